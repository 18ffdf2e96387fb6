"""Validation of a panoptic model on a COCO panoptic split, and scoring of a COCO panoptic
results file: PQ / SQ / RQ (All, Things, Stuff, per class), semantic mIoU, FWIoU and stuff
mIoU, and COCO box and mask AP of the things.

Protocol (the authors' panoptic validation): NMS with ``conf`` 0.001, IoU 0.6, up to 300
detections, several labels per box; the fused segmentation keeps the instances down to
score 0.25 (:mod:`yolov9.tasks.panoptic.fusion`); box and mask AP use every detection.

The model's categories meet the dataset's by name: a model trained on the data has the same
names; the authors' COCO model's stuff channels are first merged into COCO panoptic's
categories (:class:`~yolov9.tasks.panoptic.PanopticLabels`). A model category the dataset
lacks gives void (segments) and a wrong pixel (semantic), never a crash; a thing class the
dataset lacks is an error (its AP could not be scored).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from yolov9.data.images import read_image
from yolov9.data.panoptic import IGNORE, PanopticSet
from yolov9.data.panoptic_formats import SemanticSet
from yolov9.data.sources import Frame
from yolov9.errors import DataError
from yolov9.inference.backends import InferenceBackend
from yolov9.inference.predictor import Predictor
from yolov9.metrics.coco import CocoMetrics, CocoResults, evaluate_coco, to_coco_arrays
from yolov9.metrics.panoptic import (
    CategoryCounts,
    PanopticMetrics,
    evaluate_panoptic,
    image_counts,
    summarize,
)
from yolov9.metrics.semantic import SemanticConfusion
from yolov9.tasks.base import FusionOptions
from yolov9.tasks.panoptic import PanopticLabels
from yolov9.tasks.registry import get_task

log = logging.getLogger(__name__)

PANOPTIC_IOU = 0.6  # the NMS IoU of the authors' panoptic validation


@dataclass
class PanopticReport:
    """What panoptic validation measured (fractions, as the COCO panoptic API gives them)."""

    panoptic: PanopticMetrics | None  # None: semantic-only data
    categories: list[dict[str, Any]]
    images: int
    semantic: dict[str, Any] | None = None
    boxes: CocoMetrics | None = None
    masks: CocoMetrics | None = None
    speed_ms: dict[str, float] = field(default_factory=dict)

    def panoptic_dict(self) -> dict[str, Any]:
        """``All``, ``Things``, ``Stuff`` ``{pq, sq, rq, n}`` and ``per_class`` (by category
        id, with its name) as ``pq_compute`` returns them."""
        if self.panoptic is None:
            return {}
        names = {int(c["id"]): str(c["name"]) for c in self.categories}
        out: dict[str, Any] = {k: {**v, "n": int(v["n"])} for k, v in self.panoptic.groups.items()}
        out["per_class"] = {
            str(cid): {**v, "name": names.get(cid, "")}
            for cid, v in self.panoptic.per_class.items()
        }
        return out

    def figures(self) -> dict[str, float]:
        """The headline figures, those measured: ``PQ`` ``SQ`` ``RQ`` ``PQ_th`` ``PQ_st``,
        ``mIoU``, box ``AP`` ``AP50`` and ``mask/AP`` ``mask/AP50``."""
        out: dict[str, float] = {}
        if self.panoptic is not None:
            groups = self.panoptic.groups
            out.update({k.upper(): float(groups["All"][k]) for k in ("pq", "sq", "rq")})
            out["PQ_th"] = float(groups["Things"]["pq"])
            out["PQ_st"] = float(groups["Stuff"]["pq"])
        if self.semantic is not None:
            out["mIoU"] = float(self.semantic["mIoU"])
        if self.boxes is not None:
            out.update({"AP": self.boxes.AP, "AP50": self.boxes.AP50})
        if self.masks is not None:
            out.update({"mask/AP": self.masks.AP, "mask/AP50": self.masks.AP50})
        return out

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"images": self.images}
        if self.panoptic is not None:
            out["panoptic"] = self.panoptic_dict()
        if self.semantic is not None:
            out["semantic"] = self.semantic
        if self.boxes is not None:
            out["bbox"] = self.boxes.as_dict()
        if self.masks is not None:
            out["mask"] = self.masks.as_dict()
        if self.speed_ms:
            out["speed_ms"] = self.speed_ms
        return out

    def summary(self) -> str:
        lines = [f"{self.images} images"]
        if self.panoptic is not None:
            lines += ["panoptic:", self.panoptic.table()]
        if self.semantic is not None:
            s = self.semantic
            lines.append(
                f"semantic: mIoU {100 * s['mIoU']:.2f}  FWIoU {100 * s['FWIoU']:.2f}  "
                f"stuff mIoU {100 * s.get('stuff_mIoU', 0.0):.2f}  "
                f"pixel acc {100 * s['pixel_acc']:.2f}"
            )
        if self.boxes is not None:
            lines += ["boxes:", self.boxes.table()]
        if self.masks is not None:
            lines += ["masks:", self.masks.table()]
        return "\n".join(lines)


def score_panoptic_file(panset: PanopticSet, predictions: str) -> PanopticReport:
    """PQ of a COCO panoptic results file (``FILE.json`` + PNG folder ``FILE/``) against the
    split; no image is read."""
    metrics = evaluate_panoptic(panset.json_path, predictions, gt_dir=panset.png_dir)
    return PanopticReport(metrics, panset.categories, len(panset))


def model_to_dataset(labels: PanopticLabels, panset: PanopticSet) -> np.ndarray:
    """(model categories,) int64: the dataset category index of each model category (-1:
    the dataset has none of that name).

    Raises:
        DataError: a thing class of the model that the dataset does not have.
    """
    out = _by_name(labels, panset.names)
    missing = [n for n, i in zip(labels.names[: labels.num_things], out, strict=False) if i < 0]
    if missing:
        raise DataError(
            f"{panset.json_path}: no category named {missing[0]!r}, a thing class of the model "
            f"({len(missing)} of its {labels.num_things} are missing); validate on data with "
            "the model's classes"
        )
    return out


def _by_name(labels: PanopticLabels, names: list[str]) -> np.ndarray:
    """(model categories,) int64 index of each model category's name in ``names`` (-1: none)."""
    index = {name: i for i, name in enumerate(names)}
    return np.array([index.get(n, -1) for n in labels.names], np.int64)


def _channels_to(labels: PanopticLabels, to_data: np.ndarray, none: int) -> np.ndarray:
    """(channels,) the data class of each semantic channel; ``none`` where there is none."""
    cat = labels.channel_category
    mapped = np.where(cat >= 0, to_data[np.maximum(cat, 0)], -1)
    return np.where(mapped >= 0, mapped, none)


def _semantic_results(
    confusion: SemanticConfusion, names: list[str], stuff: list[int]
) -> dict[str, Any]:
    n = len(names)
    out = confusion.results(stuff=stuff, classes=range(n))
    iou = confusion.iou()
    out["per_class"] = {names[i]: (None if np.isnan(iou[i]) else float(iou[i])) for i in range(n)}
    return out


def _panoptic_predictor(
    backend: InferenceBackend, what: str, imgsz: int | None, fusion: FusionOptions | None
) -> Predictor:
    task = get_task(backend.task)
    if not task.gives("panoptic"):
        raise DataError(
            f"{what}; the model is for {task.description}: give a panoptic model (gelan-x-pan), "
            "or instance data for this one"
        )
    return Predictor(backend, imgsz=imgsz, fusion=fusion)


def evaluate_semantic_model(
    semset: SemanticSet,
    backend: InferenceBackend,
    *,
    imgsz: int | None = None,
    progress: bool = True,
) -> PanopticReport:
    """Semantic mIoU of a panoptic model on label maps (classes matched by name; a model
    class the data lacks counts as a wrong prediction)."""
    predictor = _panoptic_predictor(
        backend, f"{semset.source} has semantic label maps", imgsz, None
    )
    labels = PanopticLabels.for_model(backend.names, backend.stuff_names)
    n = len(semset.names)
    channel_to_data = _channels_to(labels, _by_name(labels, semset.names), n)
    confusion = SemanticConfusion(n + 1, ignore_index=semset.ignore)
    for i in tqdm(range(len(semset)), desc="val", disable=not progress):
        image = semset.read_image(i)
        result = next(predictor([Frame(image, str(semset.images[i]))], conf=0.25))
        assert result.semantic is not None
        truth = semset.read_label(i, image.shape[:2])
        confusion.update(channel_to_data[result.semantic], truth, str(semset.labels[i]))
    categories = [{"id": i, "name": name} for i, name in enumerate(semset.names)]
    sem = _semantic_results(confusion, semset.names, [])
    sem.pop("stuff_mIoU", None)
    return PanopticReport(None, categories, len(semset), sem)


def evaluate_panoptic_model(
    panset: PanopticSet,
    backend: InferenceBackend,
    *,
    imgsz: int | None = None,
    conf: float = 0.001,
    iou: float = PANOPTIC_IOU,
    max_det: int = 300,
    multi_label: bool = True,
    fusion: FusionOptions | None = None,
    progress: bool = True,
) -> PanopticReport:
    """Run ``backend`` (a panoptic model) on every image of ``panset`` and score it."""
    predictor = _panoptic_predictor(
        backend, f"{panset.json_path} is panoptic ground truth", imgsz, fusion
    )
    labels = PanopticLabels.for_model(backend.names, backend.stuff_names)
    to_data = model_to_dataset(labels, panset)
    n = len(panset.categories)
    # semantic: model channel -> dataset category index, n for "none of the dataset's"
    channel_to_data = _channels_to(labels, to_data, n)
    confusion = SemanticConfusion(n + 1, ignore_index=IGNORE)
    ids_of = [int(c["id"]) for c in panset.categories]
    things = [i for i, t in enumerate(panset.isthing) if t]
    totals: dict[int, CategoryCounts] = {}
    gt_images: list[dict[str, Any]] = []
    gt_anns: list[dict[str, Any]] = []
    parts: list[CocoResults] = []
    nms = {"conf": conf, "iou": iou, "max_det": max_det, "multi_label": multi_label}
    for number, image in enumerate(tqdm(panset.images, desc="val", disable=not progress)):
        if image.image is None:
            raise DataError(f"{panset.json_path}: image {image.file_name} not found")
        coco_id = number + 1  # COCOeval wants ints; the JSON's ids may be names
        result = next(predictor([Frame(read_image(image.image), str(image.image))], **nms))
        assert result.panoptic is not None
        assert result.semantic is not None
        gt_ids = panset.read_ids(image)
        where = str(image.png)
        # PQ: the fused segments in the dataset's categories (others become void)
        pred_ids = result.panoptic.ids.astype(np.int64)
        segments = []
        for s in result.panoptic.segments:
            d = int(to_data[s.category])
            if d < 0:
                pred_ids[pred_ids == s.id] = 0
                continue
            segments.append({"id": s.id, "category_id": ids_of[d], "iscrowd": 0})
        counts = image_counts(gt_ids, image.segments, pred_ids, segments, where=where)
        for cid, c in counts.items():
            totals.setdefault(cid, CategoryCounts()).add(c)
        # semantic: every pixel's class against the segment categories of the ground truth
        confusion.update(
            channel_to_data[result.semantic], panset.semantic_truth(gt_ids, image), where
        )
        # AP of the things: every detection, its mask as an RLE
        truth = panset.instance_truth(gt_ids, image)
        gt_images.append({"id": coco_id, "width": image.width, "height": image.height})
        for box, cls, crowd, area, rle in zip(
            truth.boxes, truth.classes, truth.crowd, truth.areas, truth.rles, strict=True
        ):
            x1, y1, x2, y2 = (float(v) for v in box)
            gt_anns.append(
                {
                    "id": len(gt_anns) + 1,
                    "image_id": coco_id,
                    "category_id": ids_of[int(cls)],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": float(area),
                    "iscrowd": int(crowd),
                    "segmentation": rle,
                }
            )
        # every detection as arrays, as the evaluator keeps them (not a dict each)
        data_classes = to_data[result.labels.astype(np.int64)]
        rles = result.masks.rles() if result.masks is not None else None
        parts.append(
            to_coco_arrays(coco_id, result.boxes, result.scores, data_classes, ids_of, masks=rles)
        )
    pan = summarize(totals, {int(c["id"]): c for c in panset.categories})
    stuff = [i for i, t in enumerate(panset.isthing) if not t]
    sem = _semantic_results(confusion, panset.names, stuff)
    gt = {
        "images": gt_images,
        "annotations": gt_anns,
        "categories": [{"id": ids_of[c], "name": panset.names[c]} for c in things],
    }
    detections = CocoResults.concat(parts)
    boxes = evaluate_coco(gt, detections) if gt_anns else None
    mask_metrics = evaluate_coco(gt, detections, iou_type="segm") if gt_anns else None
    return PanopticReport(pan, panset.categories, len(panset), sem, boxes, mask_metrics)


def evaluate_model(
    truth: PanopticSet | SemanticSet,
    backend: InferenceBackend,
    *,
    imgsz: int | None = None,
    progress: bool = True,
) -> PanopticReport:
    """PQ, mIoU, box and mask AP on panoptic ground truth (the authors' protocol), mIoU on
    label maps."""
    if isinstance(truth, SemanticSet):
        return evaluate_semantic_model(truth, backend, imgsz=imgsz, progress=progress)
    return evaluate_panoptic_model(truth, backend, imgsz=imgsz, progress=progress)
