"""Panoptic quality (PQ, SQ, RQ) by the COCO panoptic definition (Kirillov et al.; the COCO
panoptic API's ``pq_compute``), written from the definition.

Per image, a predicted and a ground-truth segment of the same category match when their IoU is
above 0.5 (so each matches at most once); the union leaves out the predicted pixels that fall on
void (unlabelled) ground truth, and a ground-truth segment's area is the one its record states.
Crowd ground truth never matches and is not a miss; an unmatched predicted segment is not a false
positive when more than half of it lies on void or on a crowd region of its category. Per
category: SQ = (sum of matched IoUs) / TP, RQ = TP / (TP + FP/2 + FN/2), PQ = SQ x RQ; averages
over the categories with any TP, FP or FN (All, Things, Stuff).

Segment maps are the COCO panoptic PNGs: segment id = R + 256 G + 256^2 B, 0 for void.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yolov9.data.images import read_image
from yolov9.data.panoptic import rgb_to_id
from yolov9.errors import DataError
from yolov9.utils.paths import read_json

VOID = 0
_OFFSET = 1 << 24  # more than any RGB-encoded segment id


@dataclass
class CategoryCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    iou_sum: float = 0.0

    def add(self, other: CategoryCounts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.iou_sum += other.iou_sum


@dataclass
class PanopticMetrics:
    """``groups``: ``All``, ``Things``, ``Stuff`` -> pq, sq, rq (0..1) and n (categories
    averaged); ``per_class``: category id -> pq, sq, rq; ``counts``: category id -> counts."""

    groups: dict[str, dict[str, float]]
    per_class: dict[int, dict[str, float]]
    counts: dict[int, CategoryCounts] = field(repr=False)

    @property
    def PQ(self) -> float:  # noqa: N802 (the metric's name)
        return self.groups["All"]["pq"]

    def table(self) -> str:
        rows = [f"{'':8s} {'PQ':>6s} {'SQ':>6s} {'RQ':>6s} {'n':>4s}"]
        for name, g in self.groups.items():
            rows.append(
                f"{name:8s} {100 * g['pq']:6.2f} {100 * g['sq']:6.2f} {100 * g['rq']:6.2f} "
                f"{int(g['n']):4d}"
            )
        return "\n".join(rows)


def image_counts(
    gt_ids: np.ndarray,
    gt_segments: Iterable[Mapping[str, Any]],
    pred_ids: np.ndarray,
    pred_segments: Iterable[Mapping[str, Any]],
    where: str = "",
) -> dict[int, CategoryCounts]:
    """TP, FP, FN and matched IoU per category of one image (segment maps as ids)."""
    if gt_ids.shape != pred_ids.shape:
        raise DataError(
            f"{where}: prediction {pred_ids.shape} and ground truth {gt_ids.shape} sizes differ"
        )
    gt = {int(s["id"]): dict(s) for s in gt_segments}
    if any("area" not in s for s in gt.values()):  # the record's area, else the PNG's
        ids, areas = np.unique(gt_ids, return_counts=True)
        png_area = dict(zip(ids.tolist(), areas.tolist(), strict=True))
        for i, s in gt.items():
            s.setdefault("area", png_area.get(i, 0))
    pred = {int(s["id"]): dict(s) for s in pred_segments}
    ids, areas = np.unique(pred_ids, return_counts=True)
    in_png = set()
    for i, area in zip(ids.tolist(), areas.tolist(), strict=True):
        if i == VOID:
            continue
        if i not in pred:
            raise DataError(f"{where}: segment id {i} is in the PNG but not in the JSON")
        pred[i]["area"] = area
        in_png.add(i)
    absent = [i for i in pred if i not in in_png]
    if absent:
        raise DataError(f"{where}: segment ids {absent[:5]} are in the JSON but not in the PNG")
    pairs, overlap = np.unique(
        gt_ids.astype(np.int64) * _OFFSET + pred_ids.astype(np.int64), return_counts=True
    )
    inter = {
        (int(p // _OFFSET), int(p % _OFFSET)): int(n)
        for p, n in zip(pairs.tolist(), overlap.tolist(), strict=True)
    }
    counts: dict[int, CategoryCounts] = {}

    def of(category: int) -> CategoryCounts:
        return counts.setdefault(category, CategoryCounts())

    matched_gt, matched_pred = set(), set()
    for (g, p), n in inter.items():
        if g not in gt or p not in pred or gt[g].get("iscrowd", 0) == 1:
            continue
        category = int(gt[g]["category_id"])
        if category != int(pred[p]["category_id"]):
            continue
        union = pred[p]["area"] + gt[g]["area"] - n - inter.get((VOID, p), 0)
        iou = n / union
        if iou > 0.5:
            of(category).tp += 1
            of(category).iou_sum += iou
            matched_gt.add(g)
            matched_pred.add(p)
    crowd = {}
    for g, s in gt.items():
        if g in matched_gt:
            continue
        if s.get("iscrowd", 0) == 1:
            crowd[int(s["category_id"])] = g
            continue
        of(int(s["category_id"])).fn += 1
    for p, s in pred.items():
        if p in matched_pred:
            continue
        category = int(s["category_id"])
        ignored = inter.get((VOID, p), 0)
        if category in crowd:
            ignored += inter.get((crowd[category], p), 0)
        if ignored / s["area"] > 0.5:
            continue
        of(category).fp += 1
    return counts


def summarize(
    counts: Mapping[int, CategoryCounts], categories: Mapping[int, Mapping[str, Any]]
) -> PanopticMetrics:
    """PQ, SQ and RQ per category and averaged (All, Things, Stuff) from summed counts; a
    category without any TP, FP or FN scores 0 and is left out of the averages."""
    per_class: dict[int, dict[str, float]] = {}
    seen: list[int] = []  # the categories that count in the averages
    for cid in categories:
        c = counts.get(cid, CategoryCounts())
        denominator = c.tp + 0.5 * c.fp + 0.5 * c.fn
        if denominator == 0:
            per_class[cid] = {"pq": 0.0, "sq": 0.0, "rq": 0.0}
            continue
        per_class[cid] = {
            "pq": c.iou_sum / denominator,
            "sq": c.iou_sum / c.tp if c.tp else 0.0,
            "rq": c.tp / denominator,
        }
        seen.append(cid)
    groups: dict[str, dict[str, float]] = {}
    for name, want in (("All", None), ("Things", True), ("Stuff", False)):
        ids = [i for i in seen if want is None or bool(categories[i].get("isthing", 0)) == want]
        n = len(ids)
        groups[name] = {
            k: (sum(per_class[i][k] for i in ids) / n if n else 0.0) for k in ("pq", "sq", "rq")
        } | {"n": float(n)}
    return PanopticMetrics(groups, per_class, dict(counts))


def read_segment_map(path: Path) -> np.ndarray:
    """A COCO panoptic PNG as segment ids (a missing or undecodable file is one line)."""
    return rgb_to_id(read_image(path))


def evaluate_panoptic(
    gt_json: str | Path,
    pred_json: str | Path,
    gt_dir: str | Path | None = None,
    pred_dir: str | Path | None = None,
) -> PanopticMetrics:
    """PQ of a COCO panoptic results file against a COCO panoptic ground truth. The PNG
    folders default to the JSON's path without ``.json`` (as COCO ships them). Every image of
    the ground truth needs a prediction (one line naming the first that has none). A results
    file that lists its own ``categories`` (as ``yolov9 predict --save-panoptic`` writes them)
    is matched to the ground truth's by name. A prediction is found by its ``image_id``, or
    else by its PNG's name (``yolov9 predict`` names results after the image files)."""
    gt_json, pred_json = Path(gt_json), Path(pred_json)
    gt_dir = Path(gt_dir) if gt_dir else gt_json.with_suffix("")
    pred_dir = Path(pred_dir) if pred_dir else pred_json.with_suffix("")
    gt, pred = _read_json(gt_json), _read_json(pred_json)
    if not isinstance(gt.get("categories"), list):
        raise DataError(f"{gt_json}: the ground truth needs 'categories'")
    categories = {int(c["id"]): c for c in gt["categories"]}
    remap = _category_map(pred.get("categories"), gt["categories"], pred_json)
    predicted = {a["image_id"]: a for a in pred["annotations"]}
    by_name = {Path(str(a["file_name"])).stem: a for a in pred["annotations"]}
    total: dict[int, CategoryCounts] = {}
    for ann in gt["annotations"]:
        p = predicted.get(ann["image_id"]) or by_name.get(Path(str(ann["file_name"])).stem)
        if p is None:
            raise DataError(f"{pred_json}: no prediction for image {ann['image_id']!r}")
        segments = [
            {**s, "category_id": remap.get(int(s["category_id"]), int(s["category_id"]))}
            for s in p["segments_info"]
        ]
        for s in segments:
            if int(s["category_id"]) not in categories:
                raise DataError(
                    f"{pred_json}: image {ann['image_id']!r}, segment {s['id']}: unknown "
                    f"category {s['category_id']}"
                )
        counts = image_counts(
            read_segment_map(gt_dir / ann["file_name"]),
            ann["segments_info"],
            read_segment_map(pred_dir / p["file_name"]),
            segments,
            where=f"{pred_dir / p['file_name']}",
        )
        for cid, c in counts.items():
            total.setdefault(cid, CategoryCounts()).add(c)
    return summarize(total, categories)


def _read_json(path: Path) -> dict[str, Any]:
    """A COCO panoptic JSON (one line for a missing, malformed or incomplete file)."""
    doc = read_json(path)
    if not isinstance(doc, dict) or "annotations" not in doc:
        raise DataError(f"{path}: a COCO panoptic JSON needs 'annotations' (and 'categories')")
    for i, a in enumerate(doc["annotations"]):
        if not isinstance(a, dict) or not {"image_id", "file_name", "segments_info"} <= set(a):
            raise DataError(f"{path}: annotations[{i}] needs image_id, file_name and segments_info")
    return doc


def _category_map(pred: Any, gt: list[dict[str, Any]], source: Path) -> dict[int, int]:
    """Results category id -> ground-truth id, by name, when the results file lists its
    categories; empty (ids as they are) otherwise."""
    if not pred:
        return {}
    by_name = {str(c["name"]): int(c["id"]) for c in gt}
    out = {}
    for c in pred:
        name = str(c.get("name"))
        if name not in by_name:
            raise DataError(
                f"{source}: category {name!r} (id {c.get('id')}) is not a category of the "
                "ground truth"
            )
        out[int(c["id"])] = by_name[name]
    return out
