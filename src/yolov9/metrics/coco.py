"""COCO mAP for any dataset, computed by faster-coco-eval (pycocotools-compatible).

The ground truth of any split is turned into a COCO instances dict (COCO datasets keep their
own image and category ids; YOLO-txt COCO uses the 80 -> 91 category map), detections become
COCO result entries, and COCOeval does the rest, so numbers equal pycocotools'. Boxes are
scored with ``iou_type="bbox"``; instance masks with ``iou_type="segm"``: the ground truth's
exact masks (every polygon part, RLEs) against results with a ``segmentation`` (an RLE or
polygons).
"""

from __future__ import annotations

import contextlib
import io
import logging
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from faster_coco_eval import COCO, COCOeval_faster
from faster_coco_eval.core import mask as coco_mask

from yolov9.data.dataset import DetectionDataset
from yolov9.data.labels import Rle, Segmentation, compress_rle
from yolov9.errors import ConfigError, DataError
from yolov9.ops.masks import encode_rle

log = logging.getLogger(__name__)

_STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "ARs",
    "ARm",
    "ARl",
)


IOU_TYPES = ("bbox", "segm")


@dataclass
class CocoMetrics:
    """COCO metrics of boxes or masks (fractions in [0, 1]; -1 where a size range has no
    ground truth). ``iou_type`` says which."""

    AP: float
    AP50: float
    AP75: float
    APs: float
    APm: float
    APl: float
    AR1: float
    AR10: float
    AR100: float
    ARs: float
    ARm: float
    ARl: float
    per_class: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    precision: np.ndarray | None = field(default=None, repr=False)  # COCOeval's (T, R, K, A, M)
    iou_type: str = "bbox"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("precision")
        return d

    def table(self) -> str:
        rows = [f"  {k:<6}{getattr(self, k):.4f}" for k in _STAT_NAMES]
        return "\n".join(rows)


def _segmentation_json(seg: Segmentation) -> list[list[float]] | Rle:
    if isinstance(seg, dict):
        return {"size": list(seg["size"]), "counts": seg["counts"]}
    return [np.asarray(part, np.float64).ravel().tolist() for part in seg]


def coco_ground_truth(dataset: DetectionDataset) -> dict[str, Any]:
    """The split as a COCO instances dict (crowd/difficult boxes as ``iscrowd`` regions), with
    each object's exact mask as its ``segmentation`` (polygon parts in pixels, or an RLE with
    ``counts`` a str) where it has one."""
    images, annotations = [], []
    ann_id = 1
    for r in dataset.records:
        images.append(
            {
                "id": r.image_id,
                "width": r.width,
                "height": r.height,
                "file_name": r.path.rsplit("/", 1)[-1],
            }
        )
        assert r.crowd is not None
        assert r.areas is not None
        segmentations = r.object_segmentations()
        for box, cls, crowd, area, seg in zip(
            r.boxes, r.classes, r.crowd, r.areas, segmentations, strict=True
        ):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotation = {
                "id": ann_id,
                "image_id": r.image_id,
                "category_id": dataset.category_ids[cls],
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "area": float(area),
                "iscrowd": int(crowd),
            }
            if seg is not None:
                annotation["segmentation"] = _segmentation_json(seg)
            annotations.append(annotation)
            ann_id += 1
    categories = [
        {"id": i, "name": n} for i, n in zip(dataset.category_ids, dataset.names, strict=True)
    ]
    return {"images": images, "annotations": annotations, "categories": categories}


def to_coco_results(
    image_id: int,
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    category_ids: Sequence[int],
    masks: Sequence[np.ndarray | dict[str, Any]] | np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Detections of one image as COCO result entries (bbox xywh rounded to 3 decimals and
    scores to 5, as the reference writes them).

    ``masks``, one per detection, adds a ``segmentation`` (a compressed RLE, ``counts`` a str):
    binary (H, W) arrays in original-image pixels (or one (N, H, W) array), or RLE dicts
    ``{"size": [h, w], "counts": str | bytes | list}`` (cheaper to keep around).
    """
    xywh = boxes_xyxy.astype(np.float64).copy()
    xywh[:, 2:] -= xywh[:, :2]
    bbox = np.round(xywh, 3).tolist()
    score = np.round(np.asarray(scores, np.float64), 5).tolist()
    category = np.asarray(category_ids, np.int64)[np.asarray(classes, np.int64)].tolist()
    image_id = int(image_id)
    out = [
        {"image_id": image_id, "category_id": c, "bbox": b, "score": sc}
        for b, sc, c in zip(bbox, score, category, strict=True)
    ]
    if masks is not None:
        if len(masks) != len(out):
            raise ValueError(f"{len(masks)} masks for {len(out)} detections")
        for entry, mask in zip(out, masks, strict=True):
            entry["segmentation"] = (
                compress_rle(mask) if isinstance(mask, dict) else encode_rle(np.asarray(mask))
            )
    return out


def _bbox_problem(bbox: Any) -> str | None:
    ok = isinstance(bbox, list | tuple | np.ndarray) and len(bbox) == 4
    if not ok or not all(isinstance(v, numbers.Real) for v in bbox):
        return "bbox must be [x, y, w, h]"
    return None


def _segmentation_problem(seg: Any, size: list[int] | None) -> str | None:
    """What is wrong with a result's ``segmentation`` (``size``: its image's [h, w])."""
    if isinstance(seg, dict):
        try:
            rle = compress_rle(seg)
        except (ValueError, TypeError, OverflowError) as e:
            return f"segmentation RLE unusable: {e}"
        if size is not None and rle["size"] != size:
            return f"segmentation size {rle['size']} is not its image's [h, w] {size}"
        return None
    if isinstance(seg, list) and seg and all(isinstance(p, list) for p in seg):
        for part in seg:
            if len(part) < 6 or len(part) % 2 or not all(isinstance(v, numbers.Real) for v in part):
                return "each segmentation polygon needs x, y pairs of numbers, at least 3 points"
        return None
    return "segmentation must be an RLE {size, counts} or a list of polygons [[x1, y1, ...]]"


def _result_rle(seg: Any, size: list[int]) -> Any:
    """A valid result ``segmentation`` in the form COCO's ``loadRes`` takes without a bbox:
    a compressed RLE (polygons are rasterised as COCO rasterises them)."""
    if isinstance(seg, dict):
        return compress_rle(seg)
    parts = coco_mask.frPyObjects([[float(v) for v in p] for p in seg], *size)
    return compress_rle(coco_mask.merge(parts))


def _check_results(
    results: list[dict[str, Any]], gt: dict[str, Any], iou_type: str
) -> list[dict[str, Any]]:
    """``results`` validated (an error names the first bad entry); for ``"segm"`` every
    RLE compressed and, in results without boxes, polygons made RLEs."""
    sizes = {i["id"]: [int(i["height"]), int(i["width"])] for i in gt["images"]}
    cat_ids = {c["id"] for c in gt["categories"]}
    geometry = "bbox" if iou_type == "bbox" else "segmentation"
    needed = ("image_id", "category_id", geometry, "score")
    with_bbox = bool(results) and isinstance(results[0], dict) and "bbox" in results[0]
    out = []
    for k, r in enumerate(results):
        if not isinstance(r, dict) or not set(needed) <= r.keys():
            raise DataError(f"prediction #{k}: needs {', '.join(needed)} ({r!r:.80})")
        problem = _bbox_problem(r["bbox"]) if "bbox" in r else None
        size = sizes.get(r["image_id"])
        if geometry == "segmentation":
            if ("bbox" in r) != with_bbox:
                problem = "give every prediction a bbox or none (prediction #0 sets the rule)"
            problem = problem or _segmentation_problem(r["segmentation"], size)
        if problem:
            raise DataError(f"prediction #{k}: {problem}")
        if geometry == "segmentation" and size is not None:
            seg = r["segmentation"]
            if isinstance(seg, dict) or not with_bbox:
                r = {**r, "segmentation": _result_rle(seg, size)}
        out.append(r)
    image_ids = set(sizes)
    bad_img = {r["image_id"] for r in out} - image_ids
    bad_cat = {r["category_id"] for r in out} - cat_ids
    if bad_img:
        raise DataError(
            f"predictions for {len(bad_img)} image id(s) not in the dataset, e.g. "
            f"{sorted(bad_img)[:5]}"
        )
    if bad_cat:
        raise DataError(
            f"predictions with unknown category id(s) {sorted(bad_cat)[:10]}; "
            f"the dataset's ids are {sorted(cat_ids)[:10]}..."
        )
    return out


def evaluate_coco(
    gt: dict[str, Any],
    results: Iterable[dict[str, Any]],
    *,
    image_ids: Sequence[int] | None = None,
    iou_type: str = "bbox",
) -> CocoMetrics:
    """COCOeval of ``results`` against ``gt`` (``iou_type`` ``"bbox"`` or ``"segm"``);
    per-class AP over classes with GT. For ``"segm"`` a crowd region without a mask is its box.

    Raises:
        DataError: malformed results, or results naming unknown images or categories.
        ConfigError: ``"segm"`` on ground truth without masks.
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    if iou_type == "segm":
        gt = _mask_ground_truth(gt)
    results = _check_results(list(results), gt, iou_type)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt)
        coco_dt = coco_gt.loadRes(results) if results else None
        ev = COCOeval_faster(coco_gt, coco_dt, iou_type, print_function=log.debug)
        if image_ids is not None:
            ev.params.imgIds = list(image_ids)
        if coco_dt is None:
            return _empty_metrics(gt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(s) for s in ev.stats[:12]]
    precision = np.asarray(ev.eval["precision"])  # (T iou, R recall, K class, A area, M maxdet)
    return CocoMetrics(
        *stats,
        per_class=_per_class(precision, gt, ev.params.catIds),
        precision=precision,
        iou_type=iou_type,
    )


def _mask_ground_truth(gt: dict[str, Any]) -> dict[str, Any]:
    """``gt`` for mask scoring: refused unless every non-crowd object has a mask; a crowd
    region without one gets its box outline."""
    anns = gt["annotations"]
    missing = sum(1 for a in anns if not a.get("iscrowd") and "segmentation" not in a)
    if missing:
        total = sum(1 for a in anns if not a.get("iscrowd"))
        what = (
            "has no masks" if missing == total else f"has no mask for {missing} of {total} objects"
        )
        raise ConfigError(
            f"mask AP (iou_type='segm') needs instance masks, and the dataset {what}: use labels "
            "with polygons (YOLO segment txt, COCO) or masks (COCO RLE, VOC SegmentationObject), "
            "or score boxes (iou_type='bbox')"
        )
    if all("segmentation" in a for a in anns):
        return gt
    filled = []
    for a in anns:
        if "segmentation" not in a:
            x, y, w, h = a["bbox"]
            a = {**a, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}
        filled.append(a)
    return {**gt, "annotations": filled}


def _per_class(precision: np.ndarray, gt: dict[str, Any], cat_ids: Sequence[int]) -> dict[str, Any]:
    names = {c["id"]: c["name"] for c in gt["categories"]}
    n_gt: dict[int, int] = {}
    for a in gt["annotations"]:
        if not a.get("iscrowd"):
            n_gt[a["category_id"]] = n_gt.get(a["category_id"], 0) + 1
    out: dict[str, Any] = {}
    for k, cat in enumerate(cat_ids):
        p = precision[:, :, k, 0, -1]
        p50 = precision[0, :, k, 0, -1]
        out[names[cat]] = {
            "AP": float(p[p > -1].mean()) if (p > -1).any() else None,
            "AP50": float(p50[p50 > -1].mean()) if (p50 > -1).any() else None,
            "num_gt": n_gt.get(cat, 0),
        }
    return out


def _empty_metrics(gt: dict[str, Any], iou_type: str) -> CocoMetrics:
    """No detections at all: every AP and AR is 0 (where ground truth exists)."""
    has_gt = any(not a.get("iscrowd") for a in gt["annotations"])
    v = 0.0 if has_gt else -1.0
    per_class = _per_class(
        np.full((10, 101, len(gt["categories"]), 4, 3), -1.0),
        gt,
        [c["id"] for c in gt["categories"]],
    )
    for d in per_class.values():
        if d["num_gt"]:
            d["AP"] = d["AP50"] = 0.0
    return CocoMetrics(*([v] * 12), per_class=per_class, iou_type=iou_type)
