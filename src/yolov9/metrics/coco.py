"""COCO mAP for any dataset, computed by faster-coco-eval (pycocotools-compatible).

The ground truth of any split is turned into a COCO instances dict (COCO datasets keep their
own image and category ids; YOLO-txt COCO uses the 80 -> 91 category map), detections become
COCO results, and COCOeval does the rest, so numbers equal pycocotools'. Boxes are scored with
``iou_type="bbox"``; instance masks with ``iou_type="segm"``: the ground truth's exact masks
(every polygon part, RLEs) against results with a ``segmentation`` (an RLE or polygons).

Detections stay in arrays (:class:`CocoResults`) until COCOeval needs dicts, and COCOeval
then scores a few categories at a time (categories are scored independently, so the numbers
are those of a single pass): at COCO val2017 scale (1.5 M detections) that keeps the Python
dicts alive at once to a fraction of the whole.
"""

from __future__ import annotations

import contextlib
import io
import logging
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from faster_coco_eval import COCO, COCOeval_faster
from faster_coco_eval.core import mask as coco_mask

from yolov9.data.dataset import DetectionDataset
from yolov9.data.labels import Rle, Segmentation, compress_rle
from yolov9.errors import ConfigError, DataError
from yolov9.ops.masks import RLE, encode_rle

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


@dataclass
class CocoResults:
    """Detections of any number of images as COCO results in columns: the values
    :func:`to_coco_results` writes one dict per detection (bbox x, y, w, h rounded to 3
    decimals, scores to 5, the dataset's category ids), kept in arrays until a metric or a
    results file needs dicts (:meth:`entries`).

    ``segmentation``: one compressed RLE per detection (segmentation models), or None.
    """

    image_id: np.ndarray  # (N,) int64
    category_id: np.ndarray  # (N,) int64
    bbox: np.ndarray  # (N, 4) float64, x y w h
    score: np.ndarray  # (N,) float64
    segmentation: list[Rle | RLE] | None = None

    def __post_init__(self) -> None:
        n = len(self.image_id)
        sizes = (len(self.category_id), len(self.score))
        masks = len(self.segmentation) if self.segmentation is not None else n
        if self.bbox.shape != (n, 4) or sizes != (n, n) or masks != n:
            raise ValueError(
                f"CocoResults columns disagree: {n} image ids, {sizes[0]} category ids, "
                f"bbox {self.bbox.shape}, {sizes[1]} scores, {masks} masks"
            )

    def __len__(self) -> int:
        return len(self.image_id)

    @classmethod
    def empty(cls) -> CocoResults:
        return cls(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, np.float64)
        )

    @classmethod
    def concat(cls, parts: Sequence[CocoResults]) -> CocoResults:
        """``parts`` one after the other (all with masks or none)."""
        if not parts:
            return cls.empty()
        with_masks = {p.segmentation is not None for p in parts}
        if len(with_masks) > 1:
            raise ValueError("cannot join results with masks and results without")
        segmentation = (
            [m for p in parts for m in p.segmentation or ()] if with_masks == {True} else None
        )
        return cls(
            np.concatenate([p.image_id for p in parts]),
            np.concatenate([p.category_id for p in parts]),
            np.concatenate([p.bbox for p in parts]),
            np.concatenate([p.score for p in parts]),
            segmentation,
        )

    def take(self, rows: np.ndarray) -> CocoResults:
        """The detections at ``rows`` (indices), in that order."""
        masks = self.segmentation
        return CocoResults(
            self.image_id[rows],
            self.category_id[rows],
            self.bbox[rows],
            self.score[rows],
            [masks[i] for i in rows.tolist()] if masks is not None else None,
        )

    def entries(self) -> list[dict[str, Any]]:
        """One COCO result dict per detection, JSON-ready (Python ints and floats): what
        :func:`to_coco_results` gives."""
        out = [
            {"image_id": i, "category_id": c, "bbox": b, "score": sc}
            for i, c, b, sc in zip(
                self.image_id.tolist(),
                self.category_id.tolist(),
                self.bbox.tolist(),
                self.score.tolist(),
                strict=True,
            )
        ]
        if self.segmentation is not None:
            for entry, mask in zip(out, self.segmentation, strict=True):
                entry["segmentation"] = mask
        return out


def to_coco_arrays(
    image_id: int,
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    category_ids: Sequence[int],
    masks: Sequence[np.ndarray | Rle | RLE] | np.ndarray | None = None,
) -> CocoResults:
    """Detections of one image as COCO results in arrays (bbox xywh rounded to 3 decimals and
    scores to 5, as the reference writes them); :func:`to_coco_results` as dicts.

    ``masks``, one per detection, adds a ``segmentation`` (a compressed RLE, ``counts`` a str):
    binary (H, W) arrays in original-image pixels (or one (N, H, W) array), or RLE dicts
    ``{"size": [h, w], "counts": str | bytes | list}`` (cheaper to keep around).
    """
    xywh = np.asarray(boxes_xyxy).astype(np.float64).reshape(-1, 4)
    xywh[:, 2:] -= xywh[:, :2]
    n = len(xywh)
    segmentation = None
    if masks is not None:
        if len(masks) != n:
            raise ValueError(f"{len(masks)} masks for {n} detections")
        segmentation = [
            compress_rle(dict(mask)) if isinstance(mask, dict) else encode_rle(np.asarray(mask))
            for mask in masks
        ]
    return CocoResults(
        np.full(n, int(image_id), np.int64),
        np.asarray(category_ids, np.int64)[np.asarray(classes, np.int64)],
        np.round(xywh, 3),
        np.round(np.asarray(scores, np.float64), 5),
        segmentation,
    )


def to_coco_results(
    image_id: int,
    boxes_xyxy: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    category_ids: Sequence[int],
    masks: Sequence[np.ndarray | Rle | RLE] | np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """Detections of one image as COCO result entries (see :func:`to_coco_arrays`)."""
    return to_coco_arrays(image_id, boxes_xyxy, scores, classes, category_ids, masks).entries()


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
    sizes = _image_sizes(gt)
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
    bad_img = {r["image_id"] for r in out} - set(sizes)
    _check_ids(bad_img, {r["category_id"] for r in out} - cat_ids, cat_ids)
    return out


def _check_ids(bad_img: set[Any], bad_cat: set[Any], cat_ids: set[int]) -> None:
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


def _image_sizes(gt: dict[str, Any]) -> dict[int, list[int]]:
    return {i["id"]: [int(i["height"]), int(i["width"])] for i in gt["images"]}


def _check_arrays(results: CocoResults, gt: dict[str, Any], iou_type: str) -> None:
    """``results`` name only the dataset's images and categories (and have masks, for
    ``"segm"``); each mask is checked when its entry is made (:func:`_array_entries`)."""
    if iou_type == "segm" and results.segmentation is None and len(results):
        raise DataError("prediction #0: needs image_id, category_id, segmentation, score")
    image_ids = np.fromiter((i["id"] for i in gt["images"]), np.int64, len(gt["images"]))
    cat_ids = {int(c["id"]) for c in gt["categories"]}
    bad_img = np.setdiff1d(results.image_id, image_ids)
    bad_cat = np.setdiff1d(results.category_id, np.fromiter(cat_ids, np.int64, len(cat_ids)))
    _check_ids(set(bad_img.tolist()), set(bad_cat.tolist()), cat_ids)


def _array_entries(
    results: CocoResults, rows: np.ndarray, sizes: dict[int, list[int]], iou_type: str
) -> list[dict[str, Any]]:
    """Result dicts of ``results``' ``rows``, as :func:`_check_results` leaves dicts:
    for ``"segm"`` every RLE compressed and checked against its image's size."""
    entries = results.take(rows).entries()
    if iou_type == "segm":
        for k, entry in zip(rows.tolist(), entries, strict=True):
            size = sizes[entry["image_id"]]
            problem = _segmentation_problem(entry["segmentation"], size)
            if problem:
                raise DataError(f"prediction #{k}: {problem}")
            entry["segmentation"] = _result_rle(entry["segmentation"], size)
    return entries


PASS_DETECTIONS = 200_000
"""About how many detections one COCOeval pass scores (whole categories, so one category may
be more). A pass holds ~2 kB a detection (result dicts, COCO's index, per-image matches):
~0.4 GB at this size, whatever the number of detections in all."""

_K_AXIS = {"precision": 2, "recall": 1, "scores": 2}  # the category axis of COCOeval's tables


def evaluate_coco(
    gt: dict[str, Any],
    results: Iterable[dict[str, Any]] | CocoResults,
    *,
    image_ids: Sequence[int] | None = None,
    iou_type: str = "bbox",
    pass_detections: int = PASS_DETECTIONS,
) -> CocoMetrics:
    """COCOeval of ``results`` (COCO result dicts, or :class:`CocoResults`) against ``gt``
    (``iou_type`` ``"bbox"`` or ``"segm"``); per-class AP over classes with GT. For ``"segm"``
    a crowd region without a mask is its box.

    Categories are scored in passes of about ``pass_detections`` detections, each pass making
    the dicts COCOeval needs (from :class:`CocoResults`, or copies of the given dicts) and
    dropping them after. COCOeval matches, accumulates and stores every category on its own,
    so the passes' precision and recall tables side by side equal one pass's exactly.

    Raises:
        DataError: malformed results, or results naming unknown images or categories.
        ConfigError: ``"segm"`` on ground truth without masks.
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    if iou_type == "segm":
        gt = _mask_ground_truth(gt)
    entries_of: Callable[[np.ndarray], list[dict[str, Any]]]
    if isinstance(results, CocoResults):
        _check_arrays(results, gt, iou_type)
        categories = results.category_id
        sizes = _image_sizes(gt)

        def entries_of(rows: np.ndarray) -> list[dict[str, Any]]:
            return _array_entries(results, rows, sizes, iou_type)

    else:
        checked = _check_results(list(results), gt, iou_type)
        categories = np.fromiter((r["category_id"] for r in checked), np.int64, len(checked))

        def entries_of(rows: np.ndarray) -> list[dict[str, Any]]:
            return [dict(checked[i]) for i in rows.tolist()]  # COCO adds keys to its entries

    if not len(categories):
        return _empty_metrics(gt, iou_type)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(gt)
        cat_ids = sorted(coco_gt.getCatIds())
        tables = [
            _evaluate_pass(
                coco_gt,
                entries_of(np.flatnonzero(np.isin(categories, group))),
                group,
                image_ids,
                iou_type,
            )
            for group in _category_passes(cat_ids, categories, pass_detections)
        ]
        ev = COCOeval_faster(coco_gt, None, iou_type, print_function=log.debug)
        ev.eval = {
            key: np.concatenate([t[key] for t in tables], axis=axis)
            for key, axis in _K_AXIS.items()
        }
        ev.summarize()
    stats = [float(s) for s in ev.stats[:12]]
    precision = ev.eval["precision"]  # (T iou, R recall, K class, A area, M maxdet)
    return CocoMetrics(
        *stats,
        per_class=_per_class(precision, gt, cat_ids),
        precision=precision,
        iou_type=iou_type,
    )


def _category_passes(cat_ids: list[int], categories: np.ndarray, limit: int) -> list[list[int]]:
    """``cat_ids`` (sorted) cut into runs of about ``limit`` detections, every run with some."""
    ids, counts = np.unique(categories, return_counts=True)
    per_cat = dict(zip(ids.tolist(), counts.tolist(), strict=True))
    passes: list[list[int]] = []
    current: list[int] = []
    n = 0
    for cat in cat_ids:
        k = per_cat.get(cat, 0)
        if k and n and n + k > limit:
            passes.append(current)
            current, n = [], 0
        current.append(cat)
        n += k
    passes.append(current)
    return passes


def _evaluate_pass(
    coco_gt: COCO,
    entries: list[dict[str, Any]],
    cat_ids: list[int],
    image_ids: Sequence[int] | None,
    iou_type: str,
) -> dict[str, np.ndarray]:
    """COCOeval's accumulated tables (precision, recall, scores) for ``cat_ids`` only."""
    coco_dt = coco_gt.loadRes(entries)
    del entries  # COCO holds them now; gone with it
    ev = COCOeval_faster(coco_gt, coco_dt, iou_type, print_function=log.debug)
    if image_ids is not None:
        ev.params.imgIds = list(image_ids)
    ev.params.catIds = list(cat_ids)
    ev.evaluate()
    ev.accumulate()
    return {key: np.asarray(ev.eval[key]) for key in _K_AXIS}


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
