"""Evaluation: run a model over a split with the reference protocol and score it with COCOeval.

Defaults are the reference's COCO settings: letterbox into rectangular batches (pad 0.5,
stride 32), confidence 0.001, NMS IoU 0.7, at most 300 detections, multi-label. Boxes are
mapped back to original image pixels before scoring. Nothing is time-limited; NMS considers at
most the 30,000 best candidates of an image (``max_candidates``), which the protocol's 300
detections never come near.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from yolov9.data.caption_training import CaptionTrainDataset
from yolov9.data.dataset import DetectionDataset
from yolov9.data.images import boxes_to_original, read_image
from yolov9.data.labels import ImageLabels
from yolov9.data.language_step import CaptionedDataset
from yolov9.data.loader import EvalBatch, EvalDataset, eval_loader
from yolov9.data.train_dataset import TrainBatch, TrainDataset
from yolov9.errors import ConfigError, DataError
from yolov9.inference.backends import InferenceBackend, TorchBackend, nms_with_masks
from yolov9.inference.tiles import TiledDetector, TileOptions
from yolov9.loss import Criterion, Targets
from yolov9.metrics.coco import (
    CocoMetrics,
    CocoResults,
    coco_ground_truth,
    evaluate_coco,
    to_coco_arrays,
)
from yolov9.metrics.confusion import ConfusionMatrix
from yolov9.models import YOLOv9
from yolov9.ops.masks import decode_rle, polygons_to_mask
from yolov9.ops.nms import Detections
from yolov9.tasks.base import PostprocessOptions
from yolov9.tasks.registry import get_task
from yolov9.utils.device import default_workers, select_device
from yolov9.utils.threads import ThreadGovernor

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    metrics: CocoMetrics
    detections: CocoResults  # every detection, as COCO results in arrays
    speed_ms: dict[str, float]  # per image: preprocess, inference, postprocess
    images: int
    failed: list[str] = field(default_factory=list)  # unreadable images (excluded)
    losses: dict[str, float] | None = None  # mean validation loss terms, if a criterion ran
    plots: list[Path] = field(default_factory=list)
    mask_metrics: CocoMetrics | None = None  # segmentation models: the masks' COCO metrics

    @property
    def predictions(self) -> list[dict[str, Any]]:
        """The detections as COCO result entries (JSON-ready dicts), made on each call."""
        return self.detections.entries()

    def summary(self) -> str:
        s = self.speed_ms
        rows = [("boxes", self.metrics)]
        if self.mask_metrics is not None:
            rows.append(("masks", self.mask_metrics))
        text = f"{self.images} images\n" + "\n".join(
            f"{kind}: AP {m.AP:.4f}  AP50 {m.AP50:.4f}  AP75 {m.AP75:.4f}  "
            f"APs {m.APs:.4f}  APm {m.APm:.4f}  APl {m.APl:.4f}  AR100 {m.AR100:.4f}"
            for kind, m in rows
        )
        text += (
            f"\nspeed per image: {s['preprocess']:.1f} ms preprocess, {s['inference']:.1f} ms "
            f"inference, {s['postprocess']:.1f} ms postprocess"
        )
        if self.failed:
            text += f"\n{len(self.failed)} unreadable image(s) excluded from the metrics"
        return text


class Evaluator:
    """Evaluates models on one split. Build once, ``run`` per model (or per epoch)."""

    def __init__(
        self,
        dataset: DetectionDataset,
        *,
        imgsz: int = 640,
        batch_size: int = 32,
        conf: float = 0.001,
        iou: float = 0.7,
        max_det: int = 300,
        multi_label: bool = True,
        rect: bool = True,
        workers: int = -1,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        progress: bool = True,
        tile: TileOptions | None = None,
    ) -> None:
        if imgsz % 32:
            raise ConfigError(f"imgsz must be a multiple of 32, got {imgsz}")
        self.dataset = dataset
        self.gt = coco_ground_truth(dataset)
        self.imgsz, self.batch_size, self.rect = imgsz, batch_size, rect
        self.nms = {"conf": conf, "iou": iou, "max_det": max_det, "multi_label": multi_label}
        self.workers = default_workers(workers)
        self.precision, self.progress = precision, progress
        self.device = select_device(device)
        self.tile = tile  # sliced inference: each image as tiles (inference.tiles)

    def _data(self, backend: InferenceBackend | None, masks: bool = False) -> EvalDataset:
        """Rect batches at ``imgsz``, or an export's fixed input shape and batch size (with
        ``masks``: the objects' masks too, for a segmentation criterion)."""
        if backend is not None and backend.fixed_shape is not None:
            h, w = backend.fixed_shape
            if h != w:
                raise ConfigError(
                    f"exports with a non-square fixed input ({h}x{w}) are not supported"
                )
            return EvalDataset(
                self.dataset.records, h, backend.fixed_batch or 1, rect=False, masks=masks
            )
        batch = (
            backend.fixed_batch if backend is not None and backend.fixed_batch else self.batch_size
        )
        return EvalDataset(self.dataset.records, self.imgsz, batch, rect=self.rect, masks=masks)

    def _backend(
        self, model: YOLOv9 | InferenceBackend, as_is: bool, masks: bool = False
    ) -> tuple[InferenceBackend, EvalDataset]:
        if isinstance(model, InferenceBackend):
            return model, self._data(model)
        backend = TorchBackend(
            model,
            self.dataset.names,
            imgsz=self.imgsz,
            device=self.device,
            precision=self.precision,
            prepare=not as_is,
        )
        return backend, self._data(None, masks=masks and get_task(backend.task).needs("masks"))

    @torch.inference_mode()
    def run(
        self,
        model: YOLOv9 | InferenceBackend,
        *,
        criterion: Criterion | None = None,
        out_dir: Path | None = None,
        prepared: bool = False,
        examples: int = 4,
    ) -> EvalResult:
        """Evaluate a model or an exported model's backend.

        A :class:`YOLOv9` is first copied into a fused inference graph, unless ``prepared``.
        With a ``criterion`` (training: the model as it is, auxiliary head included) the mean
        validation loss of both heads is returned too.
        """
        backend, data = self._backend(
            model, as_is=prepared or criterion is not None, masks=criterion is not None
        )
        task = get_task(backend.task)
        if task.scores("segm"):
            require_masks(self.dataset)
        parts: list[CocoResults] = []  # per image: arrays, not dicts (1.5 M detections on COCO)
        failed: list[str] = []
        failed_ids: set[int] = set()
        losses = LossMeans()
        clock = _Clock()
        if self.tile is not None:
            if criterion is not None:
                raise ConfigError("validation losses are not computed with tiles")
            self._run_tiled(backend, self.tile, parts, failed, failed_ids, clock)
        else:
            self._run_batches(backend, data, criterion, parts, failed, failed_ids, losses, clock)
        ok_ids = [r.image_id for r in self.dataset.records if r.image_id not in failed_ids]
        for message in failed:
            log.warning("excluded from the metrics: %s", message)
        detections = CocoResults.concat(parts)
        del parts
        metrics = evaluate_coco(self.gt, detections, image_ids=ok_ids)
        mask_metrics = (
            evaluate_coco(self.gt, detections, image_ids=ok_ids, iou_type="segm")
            if task.scores("segm")
            else None
        )
        n = len(self.dataset.records) if self.tile is not None else len(data)
        result = EvalResult(
            metrics,
            detections,
            clock.per_image(n),
            n - len(failed),
            failed,
            losses.means() if criterion is not None else None,
            mask_metrics=mask_metrics,
        )
        if out_dir is not None:
            result.plots = save_plots(self.dataset, detections, metrics, out_dir, examples=examples)
        return result

    def record(self, model: YOLOv9, criterion: Criterion | None = None) -> dict[str, float]:
        """One training epoch's validation figures (``model`` as it is, both heads): box
        ``AP`` ... ``APl``, ``mask/AP`` ... (segmentation) and ``val/main/*``, ``val/aux/*``."""
        result = self.run(model, criterion=criterion, prepared=True)
        m = result.metrics
        out = {"AP": m.AP, "AP50": m.AP50, "AP75": m.AP75, "APs": m.APs, "APm": m.APm, "APl": m.APl}
        if result.mask_metrics is not None:
            mm = result.mask_metrics
            out.update(
                {"mask/AP": mm.AP, "mask/AP50": mm.AP50, "mask/AP75": mm.AP75, "mask/APs": mm.APs}
            )
        return out | per_head_losses(result.losses or {})

    def _run_batches(
        self,
        backend: InferenceBackend,
        data: EvalDataset,
        criterion: Criterion | None,
        parts: list[CocoResults],
        failed: list[str],
        failed_ids: set[int],
        losses: LossMeans,
        clock: _Clock,
    ) -> None:
        """The reference's protocol: rect batches through the backend."""
        task = get_task(backend.task)
        post = PostprocessOptions()  # the reference's masks
        loader = eval_loader(data, self.workers)
        bar = tqdm(
            loader, desc="val", unit="batch", disable=None if self.progress else True, leave=False
        )
        governor = ThreadGovernor()  # fewer threads while other processes take cores
        for batch in bar:
            governor.poll()
            dets = self._detect(backend, batch, criterion, losses, clock)
            batch_shape = (int(batch.images.shape[2]), int(batch.images.shape[3]))
            for sample, det in zip(batch.samples, dets, strict=False):
                record = self.dataset.records[sample.index]
                if sample.unreadable:
                    failed.append(str(sample.error))
                    failed_ids.add(record.image_id)
                    continue
                if sample.error is not None:
                    log.warning("%s", sample.error)
                b = boxes_to_original(det.boxes.cpu().numpy(), sample.info)
                s = det.scores.cpu().numpy()
                c = det.labels.cpu().numpy()
                # boxes and masks are scored here: no semantic map or panoptic fusion
                instances = Detections(
                    det.boxes, det.scores, det.labels, det.anchors, det.coeffs, det.protos
                )
                masks = task.postprocess(instances, batch_shape, sample.info, post).get("masks")
                rles = masks.rles() if masks is not None else None
                parts.append(
                    to_coco_arrays(record.image_id, b, s, c, self.dataset.category_ids, masks=rles)
                )
            clock.lap("postprocess")
        bar.close()

    def _run_tiled(
        self,
        backend: InferenceBackend,
        tile: TileOptions,
        parts: list[CocoResults],
        failed: list[str],
        failed_ids: set[int],
        clock: _Clock,
    ) -> None:
        """Each image at its own resolution as tiles, merged (see inference.tiles)."""
        tiler = TiledDetector(backend, tile, imgsz=self.imgsz)
        governor = ThreadGovernor()
        records = self.dataset.records
        bar = tqdm(
            records,
            desc="val (tiles)",
            unit="image",
            disable=None if self.progress else True,
            leave=False,
        )
        for record in bar:
            governor.poll()
            try:
                image = read_image(record.path)
            except DataError as e:
                failed.append(str(e))
                failed_ids.add(record.image_id)
                continue
            clock.lap("preprocess")
            det = tiler(image, self.nms)
            clock.lap("inference")
            rles = det.masks.rles() if det.masks is not None else None
            parts.append(
                to_coco_arrays(
                    record.image_id,
                    det.boxes,
                    det.scores,
                    det.labels,
                    self.dataset.category_ids,
                    masks=rles,
                )
            )
            clock.lap("postprocess")
        bar.close()

    def _detect(
        self,
        backend: InferenceBackend,
        batch: EvalBatch,
        criterion: Criterion | None,
        losses: LossMeans,
        clock: _Clock,
    ) -> list[Detections]:
        """Detections of one batch (and its loss terms, with a criterion)."""
        images = batch.images.to(backend.device, non_blocking=True).float().div_(255.0)
        fixed = backend.fixed_batch
        if fixed and images.shape[0] < fixed:  # an export with a fixed batch: pad the tail
            images = torch.cat((images, images[-1:].expand(fixed - images.shape[0], -1, -1, -1)))
        clock.lap("preprocess")
        if backend.has_nms:  # an export with NMS inside: its thresholds, our others
            dets = backend.detect(images, **self.nms)
            clock.lap("inference")
            return dets
        if criterion is not None:
            assert isinstance(backend, TorchBackend)
            out = backend.forward(images)
            targets = Targets(batch.targets, batch.masks).to(backend.device)
            losses.add(criterion(out, targets).parts)
            decoded = backend.decode(out)
        else:
            decoded = backend.infer(images)
        if backend.device.type == "cuda":
            torch.cuda.synchronize(backend.device)
        clock.lap("inference")
        return nms_with_masks(
            decoded,
            conf_threshold=self.nms["conf"],
            iou_threshold=self.nms["iou"],
            max_det=self.nms["max_det"],
            multi_label=self.nms["multi_label"],
        )


class _Clock:
    """Seconds spent per stage, accumulated lap by lap."""

    def __init__(self) -> None:
        self.totals = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.totals[stage] += now - self.last
        self.last = now

    def per_image(self, n: int) -> dict[str, float]:
        return {k: 1e3 * v / max(n, 1) for k, v in self.totals.items()}


def per_head_losses(losses: dict[str, float]) -> dict[str, float]:
    """The unweighted terms of each head as ``val/main/*`` and ``val/aux/*`` (comparable with
    the training record's ``train/main/*`` and ``train/aux/*``)."""
    return {f"val/{k}": v for k, v in losses.items() if "/" in k}


def batch_targets(batch: TrainBatch) -> Targets:
    """What a training batch gives the criterion (every task's fields; None where absent)."""
    return Targets(
        batch.targets, batch.masks, batch.semantic, batch.ignore, batch.captions, batch.labels
    )


@torch.inference_mode()
def split_losses(
    model: nn.Module,
    criterion: Criterion,
    samples: TrainDataset | CaptionTrainDataset | CaptionedDataset,
    *,
    batch_size: int,
    workers: int,
    device: torch.device,
) -> dict[str, float]:
    """Mean loss terms of ``model`` (as it is: both heads) over unaugmented training
    ``samples`` of a validation split, the model called as the trainer calls it."""
    loader: DataLoader[TrainBatch] = DataLoader(
        samples,  # type: ignore[arg-type]
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=samples.collate,
    )
    means = LossMeans()
    for batch in loader:
        images = batch.images.to(device).float().div_(255.0)
        targets = batch_targets(batch).to(device)
        means.add(criterion(model(images, targets.captions), targets).parts)
    return means.means()


class ValidationLosses:
    """The per-epoch validators' loss part: the mean loss terms of the model (as it is: both
    heads) over ``loss_set``, the split's unaugmented samples with every target."""

    loss_set: TrainDataset | CaptionTrainDataset | CaptionedDataset
    batch_size: int
    workers: int
    device: torch.device

    def losses(self, model: nn.Module, criterion: Criterion) -> dict[str, float]:
        return split_losses(
            model,
            criterion,
            self.loss_set,
            batch_size=self.batch_size,
            workers=self.workers,
            device=self.device,
        )


class LossMeans:
    """Mean of each loss term over the batches seen."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.batches = 0

    def add(self, parts: dict[str, float]) -> None:
        for k, v in parts.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.batches += 1

    def means(self) -> dict[str, float]:
        return {k: v / max(self.batches, 1) for k, v in self.sums.items()}


def save_plots(
    dataset: DetectionDataset,
    results: list[dict[str, Any]] | CocoResults,
    metrics: CocoMetrics,
    out_dir: Path,
    *,
    examples: int = 4,
) -> list[Path]:
    """PR curves, confusion matrix and (ground truth | prediction) examples, from COCO
    results (dicts or arrays), so a model run and a scored results file get the same plots."""
    from yolov9.utils.plots import plot_confusion_matrix, plot_examples, plot_pr_curves

    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = {rec.image_id: (rec.height, rec.width) for rec in dataset.records}
    cols = _plot_columns(results, sizes)
    class_of = {cat: k for k, cat in enumerate(dataset.category_ids)}
    classes_all = np.fromiter((class_of[c] for c in cols.category_id.tolist()), np.int64)
    xyxy = np.concatenate([cols.bbox[:, :2], cols.bbox[:, :2] + cols.bbox[:, 2:]], 1)
    order = np.argsort(cols.image_id, kind="stable")  # each image's rows, in results order
    ids, starts = np.unique(cols.image_id[order], return_index=True)
    rows_of = dict(zip(ids.tolist(), np.split(order, starts[1:]), strict=True))
    no_rows = np.zeros(0, np.int64)
    confusion = ConfusionMatrix(len(dataset.names))
    shown: list[tuple[Any, ...]] = []
    for record in dataset.records:
        rows = rows_of.get(record.image_id, no_rows)
        boxes, scores, classes = xyxy[rows], cols.score[rows], classes_all[rows]
        gt = record.train_mask
        confusion.update(boxes, scores, classes, record.boxes[gt], record.classes[gt])
        if len(shown) < examples:
            keep = scores >= 0.25
            segs = cols.segmentation
            pred_masks = [segs[i] for i in rows[keep].tolist()] if segs is not None else []
            with_masks = bool(pred_masks) and all(m is not None for m in pred_masks)
            shown.append(
                (
                    read_image(record.path),
                    (record.boxes[gt], record.classes[gt], _gt_masks(record, gt)),
                    (
                        boxes[keep],
                        scores[keep],
                        classes[keep],
                        [_segm_mask(m, sizes[record.image_id]) for m in pred_masks]
                        if with_masks
                        else None,
                    ),
                )
            )
    paths = [
        plot_confusion_matrix(confusion.matrix, dataset.names, out_dir / "confusion_matrix.png")
    ]
    if metrics.precision is not None:
        paths.append(plot_pr_curves(metrics.precision, dataset.names, out_dir / "pr_curve.png"))
    if shown:
        paths.append(plot_examples(shown, dataset.names, out_dir / "val_examples.jpg"))
    return paths


class _PlotColumns(NamedTuple):
    image_id: np.ndarray  # (N,) int64
    category_id: np.ndarray  # (N,) int64
    bbox: np.ndarray  # (N, 4) float64 x y w h
    score: np.ndarray  # (N,) float64
    segmentation: Sequence[Any] | None  # per detection: RLE, polygons or None


def _plot_columns(
    results: list[dict[str, Any]] | CocoResults, sizes: dict[int, tuple[int, int]]
) -> _PlotColumns:
    """What the plots need of COCO results, in arrays (a dict without a bbox: its mask's)."""
    if isinstance(results, CocoResults):
        return _PlotColumns(
            results.image_id, results.category_id, results.bbox, results.score, results.segmentation
        )
    boxes = [
        r.get("bbox") or _mask_box(_segm_mask(r["segmentation"], sizes[r["image_id"]]))
        for r in results
    ]
    return _PlotColumns(
        np.array([r["image_id"] for r in results], np.int64),
        np.array([r["category_id"] for r in results], np.int64),
        np.array(boxes, np.float64).reshape(-1, 4),
        np.array([r["score"] for r in results], np.float64),
        [r.get("segmentation") for r in results],
    )


def score_predictions(
    dataset: DetectionDataset, predictions: list[dict[str, Any]]
) -> tuple[CocoMetrics | None, CocoMetrics | None]:
    """COCO metrics of an existing results list (no model) against ``dataset``: (boxes, masks),
    boxes when the entries have ``bbox``, masks when they have ``segmentation``."""
    gt = coco_ground_truth(dataset)
    has_box = all("bbox" in p for p in predictions)
    has_mask = bool(predictions) and all("segmentation" in p for p in predictions)
    if has_mask and has_box and not dataset.has_masks:
        log.warning("the split has no masks: scoring the entries' boxes only")
        has_mask = False
    if has_mask:
        require_masks(dataset)
    boxes = evaluate_coco(gt, predictions) if has_box else None
    masks = evaluate_coco(gt, predictions, iou_type="segm") if has_mask else None
    return boxes, masks


def require_masks(dataset: DetectionDataset) -> None:
    """Segmentation needs masks on every object of the split."""
    if not dataset.has_masks:
        done, total = dataset.mask_coverage
        raise ConfigError(
            f"the {dataset.split!r} split ({dataset.format}) has no masks for "
            f"{total - done} of {total} objects, so masks cannot be scored on it; use polygon "
            "labels (YOLO segmentation txt, COCO JSON segmentation, or VOC SegmentationObject)"
        )


def _segm_mask(segmentation: Any, size: tuple[int, int]) -> np.ndarray:
    """A results entry's ``segmentation`` (RLE or polygons) as an (H, W) bool mask."""
    if isinstance(segmentation, dict):
        return decode_rle(segmentation)
    polygons = [np.asarray(p, np.float64).reshape(-1, 2) for p in segmentation]
    return polygons_to_mask(polygons, *size)


def _mask_box(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return [0.0, 0.0, 0.0, 0.0]
    return [
        float(xs.min()),
        float(ys.min()),
        float(xs.max() - xs.min() + 1),
        float(ys.max() - ys.min() + 1),
    ]


def _gt_masks(record: ImageLabels, keep: np.ndarray) -> np.ndarray | None:
    try:
        return record.instance_masks()[keep].astype(bool)
    except ValueError:  # an object without a mask: draw boxes only
        return None
