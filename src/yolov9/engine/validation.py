"""``yolov9 val``, from the CLI and the Python API alike: COCO metrics of a model (checkpoint,
exported file or a backend already open) or of an existing predictions file, on a dataset
split, with plots and a ``metrics.json`` in a run folder."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolov9.data.caption_training import caption_training
from yolov9.data.captions import CaptionSet, caption_split
from yolov9.data.dataset import DetectionDataset, load_dataset
from yolov9.data.panoptic import PanopticSet
from yolov9.data.panoptic_formats import SemanticSet, panoptic_split
from yolov9.engine.caption_val import score_caption_file, score_model_captions
from yolov9.engine.evaluator import EvalResult, Evaluator, save_plots, score_predictions
from yolov9.engine.panoptic_val import (
    PANOPTIC_IOU,
    PanopticReport,
    evaluate_panoptic_model,
    evaluate_semantic_model,
    score_panoptic_file,
)
from yolov9.errors import DataError
from yolov9.inference.backends import InferenceBackend
from yolov9.inference.loader import load_backend
from yolov9.inference.tiles import TILE_KEYS, tile_options
from yolov9.metrics.caption import CaptionScores
from yolov9.metrics.coco import CocoMetrics
from yolov9.tasks.registry import get_task
from yolov9.utils.paths import json_is_list, new_run_dir, read_json
from yolov9.utils.perf import tune_cpu_allocator

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValOptions:
    """The reference's COCO protocol by default."""

    split: str = "val"
    imgsz: int | None = None  # None: the model's own size
    batch: int = 32
    conf: float = 0.001
    iou: float | None = None  # NMS IoU; None: the authors' (0.7, panoptic 0.6)
    max_det: int = 300
    multi_label: bool = True
    rect: bool = True  # rectangular batches (letterbox per batch)
    workers: int = -1
    device: str = "auto"
    precision: str = "fp32"
    threads: int | None = None  # CPU threads (None: one per core)
    out: str = "runs/val"
    exist_ok: bool = False
    plots: bool = True
    # sliced inference (inference.tiles): tile side in pixels, None for whole images
    tile: int | None = None
    tile_overlap: float = 0.2
    tile_whole: bool = False
    tile_merge: str = "nms"
    tile_match: str = "ios"
    tile_threshold: float = 0.5


@dataclass
class ValReport:
    """``metrics``: the boxes' COCO metrics (the masks' when a scored file has no boxes; None
    for a panoptic results file); ``mask_metrics``: the masks', for segmentation models and
    segm results files; ``panoptic``: PQ, semantic IoU and AP on panoptic data; ``captions``:
    BLEU and CIDEr-D of a caption results file."""

    metrics: CocoMetrics | None
    report: dict[str, Any]  # what metrics.json holds ("mask": the masks' metrics, if any)
    run_dir: Path
    result: EvalResult | None = None  # None when a predictions file was scored
    mask_metrics: CocoMetrics | None = None
    panoptic: PanopticReport | None = None
    captions: CaptionScores | None = None  # caption data: BLEU-1..4, CIDEr-D
    caption_results: list[dict[str, Any]] = field(default_factory=list)  # a model's captions

    @property
    def predictions(self) -> list[dict[str, Any]]:
        """COCO results: the model's detections, or its captions on caption data."""
        if self.caption_results:
            return self.caption_results
        return self.result.predictions if self.result is not None else []


def validate(
    data: str | Path,
    model: str | Path | InferenceBackend | None = None,
    *,
    predictions: str | Path | None = None,
    opts: ValOptions | None = None,
) -> ValReport:
    """Score ``model`` (weights, an exported file, or an open backend) or a COCO results file
    (``predictions``) on ``data``'s split; write plots and ``metrics.json`` into a run folder.

    Raises:
        DataError: neither a model nor predictions, a class-count mismatch, or a malformed
            predictions file.
    """
    opts = opts or ValOptions()
    if model is None and predictions is None:
        raise DataError("give --weights (a model to run) or --predictions (a results file)")
    capset = caption_split(data, opts.split)
    panset = panoptic_split(data, opts.split, need_images=predictions is None)
    if capset is not None and panset is not None:  # the all-task data
        return _validate_both(capset, panset, data, model, predictions, opts)
    if capset is not None:
        return _validate_captions(capset, data, model, predictions, opts)
    if panset is not None:
        return _validate_panoptic(panset, data, model, predictions, opts)
    dataset = load_dataset(str(data), opts.split)
    out = new_run_dir(opts.out, opts.exist_ok)
    dataset.report.log()
    dataset.report.write(out / "label_issues.txt")
    if predictions is not None:
        entries = load_predictions(predictions)
        boxes, masks = score_predictions(dataset, entries)
        metrics = boxes or masks
        if metrics is None:
            raise DataError(
                f"{predictions}: the entries need 'bbox' (boxes) or 'segmentation' (masks)"
            )
        summary: dict[str, Any] = {"images": len(dataset), "predictions": str(predictions)}
        if opts.plots:
            save_plots(dataset, entries, metrics, out)
        result = None
    else:
        assert model is not None
        result, summary = _run_model(dataset, model, opts, out)
        metrics, masks = result.metrics, result.mask_metrics
    report = {**metrics.as_dict(), **summary, "data": str(data), "split": opts.split}
    if masks is not None:
        report["mask"] = masks.as_dict()
    (out / "metrics.json").write_text(json.dumps(report, indent=1))
    return ValReport(metrics, report, out, result, masks)


def _open_backend(model: str | Path | InferenceBackend, opts: ValOptions) -> InferenceBackend:
    """The backend to score: ``model`` itself, or the checkpoint or export it names."""
    tune_cpu_allocator()
    if isinstance(model, InferenceBackend):
        return model
    return load_backend(
        model,
        device=opts.device,
        precision=opts.precision,
        imgsz=opts.imgsz,
        threads=opts.threads,
    )


def _validate_both(
    capset: CaptionSet,
    panset: PanopticSet | SemanticSet,
    data: str | Path,
    model: str | Path | InferenceBackend | None,
    predictions: str | Path | None,
    opts: ValOptions,
) -> ValReport:
    """A split with panoptic labels and captions: an all-task model is scored on both in
    one report; any other model, or a results file, by what it gives (a results file: a list
    of captions, or a COCO panoptic results document)."""
    if opts.tile is not None:
        raise DataError("--tile does not apply to panoptic or caption validation yet")
    if predictions is not None:
        if json_is_list(predictions):  # read once, by the scorer
            return _validate_captions(capset, data, None, predictions, opts)
        return _validate_panoptic(panset, data, None, predictions, opts)
    assert model is not None
    backend = _open_backend(model, opts)
    task = get_task(backend.task)
    if not task.gives("caption"):
        return _validate_panoptic(panset, data, backend, None, opts)
    if not task.gives("semantic"):
        return _validate_captions(capset, data, backend, None, opts)
    pan, summary = _panoptic_figures(panset, backend, opts)
    scores, results, _ = _caption_figures(capset, data, backend, None, opts)
    report = {
        **pan.as_dict(),
        "caption": scores.as_dict(),
        **summary,
        "data": str(data),
        "split": opts.split,
    }
    out = _write_report(report, opts)
    return ValReport(
        pan.boxes, report, out, None, pan.masks, pan, captions=scores, caption_results=results
    )


def _write_report(report: dict[str, Any], opts: ValOptions) -> Path:
    out = new_run_dir(opts.out, opts.exist_ok)
    (out / "metrics.json").write_text(json.dumps(report, indent=1))
    return out


def _caption_figures(
    capset: CaptionSet,
    data: str | Path,
    model: str | Path | InferenceBackend | None,
    predictions: str | Path | None,
    opts: ValOptions,
) -> tuple[CaptionScores, list[dict[str, Any]], dict[str, Any]]:
    """The scores, the model's captions as COCO caption results (none for a file), and what
    was scored."""
    if predictions is not None:
        return score_caption_file(capset, predictions), [], {"predictions": str(predictions)}
    assert model is not None
    backend = _open_backend(model, opts)
    split = caption_training(capset, data, opts.split)  # the file read once
    imgsz = opts.imgsz or backend.imgsz
    scores, captions = score_model_captions(
        backend, split, imgsz=imgsz, batch_size=min(opts.batch, 16)
    )
    results = [{"image_id": k, "caption": v} for k, v in captions.items()]
    return scores, results, {"model": backend.describe(), "imgsz": imgsz}


def _validate_captions(
    capset: CaptionSet,
    data: str | Path,
    model: str | Path | InferenceBackend | None,
    predictions: str | Path | None,
    opts: ValOptions,
) -> ValReport:
    """BLEU-1..4 and CIDEr-D of a caption results file, or of a caption model's captions of
    the split's images (kept in ``ValReport.caption_results`` as COCO caption results)."""
    scores, results, source = _caption_figures(capset, data, model, predictions, opts)
    report = {
        "caption": scores.as_dict(),
        "images": len(scores.cider_per_image),
        **source,
        "data": str(data),
        "split": opts.split,
    }
    out = _write_report(report, opts)
    return ValReport(None, report, out, captions=scores, caption_results=results)


def _panoptic_figures(
    panset: PanopticSet | SemanticSet, model: str | Path | InferenceBackend, opts: ValOptions
) -> tuple[PanopticReport, dict[str, Any]]:
    """PQ, semantic IoU and box and mask AP of a model, and what was scored."""
    backend = _open_backend(model, opts)
    pan = (
        evaluate_semantic_model(panset, backend, imgsz=opts.imgsz)
        if isinstance(panset, SemanticSet)
        else evaluate_panoptic_model(
            panset,
            backend,
            imgsz=opts.imgsz,
            conf=opts.conf,
            iou=opts.iou if opts.iou is not None else PANOPTIC_IOU,
            max_det=opts.max_det,
            multi_label=opts.multi_label,
        )
    )
    weights = str(model) if not isinstance(model, InferenceBackend) else backend.kind
    return pan, {"weights": weights, "backend": backend.describe()}


def _validate_panoptic(
    panset: PanopticSet | SemanticSet,
    data: str | Path,
    model: str | Path | InferenceBackend | None,
    predictions: str | Path | None,
    opts: ValOptions,
) -> ValReport:
    """PQ (and, running a model, semantic IoU and box and mask AP) on COCO panoptic data."""
    if opts.tile is not None:
        raise DataError("--tile does not apply to panoptic validation yet")
    if predictions is not None:
        if type(panset) is not PanopticSet:  # the other formats have no PNG ground truth
            raise DataError(
                f"--predictions scores COCO panoptic results against COCO panoptic ground "
                f"truth; the {opts.split!r} split of {data} is in another format"
            )
        pan = score_panoptic_file(panset, str(predictions))
        summary: dict[str, Any] = {"predictions": str(predictions)}
    else:
        assert model is not None
        pan, summary = _panoptic_figures(panset, model, opts)
    report = {**pan.as_dict(), **summary, "data": str(data), "split": opts.split}
    out = _write_report(report, opts)
    return ValReport(pan.boxes, report, out, None, pan.masks, pan)


def _run_model(
    dataset: DetectionDataset,
    model: str | Path | InferenceBackend,
    opts: ValOptions,
    out: Path,
) -> tuple[EvalResult, dict[str, Any]]:
    backend = _open_backend(model, opts)
    if len(backend.names) != len(dataset.names):
        raise DataError(
            f"the model has {len(backend.names)} classes, the dataset has {len(dataset.names)}"
        )
    if get_task(backend.task).gives("panoptic"):
        log.warning(
            "%s has no stuff or semantic labels: scoring this panoptic model's boxes and masks "
            "only (PQ and mIoU need panoptic data: see the README, 'Panoptic and semantic')",
            dataset.report.split,
        )
    if backend.has_nms:
        log.warning(
            "this export has NMS with conf %s built in: metrics are not comparable "
            "to the COCO protocol (conf 0.001); export without --nms for val",
            backend.nms_settings.get("conf"),
        )
    imgsz = opts.imgsz or backend.imgsz
    defaults = ValOptions()
    tile = tile_options(  # the tile settings changed from their defaults
        opts.tile,
        **{k: getattr(opts, k) for k in TILE_KEYS if getattr(opts, k) != getattr(defaults, k)},
    )
    evaluator = Evaluator(
        dataset,
        imgsz=imgsz,
        batch_size=opts.batch,
        conf=opts.conf,
        iou=opts.iou if opts.iou is not None else 0.7,
        max_det=opts.max_det,
        multi_label=opts.multi_label,
        rect=opts.rect,
        workers=opts.workers,
        device=opts.device,
        precision=opts.precision,
        tile=tile,
    )
    result = evaluator.run(backend, out_dir=out if opts.plots else None)
    summary = {
        "images": result.images,
        "speed_ms": result.speed_ms,
        "failed": result.failed,
        "weights": str(model) if not isinstance(model, InferenceBackend) else backend.kind,
        "imgsz": imgsz,
        "backend": backend.describe(),
    }
    if opts.tile is not None:
        summary["tile"] = {
            "size": opts.tile,
            "overlap": opts.tile_overlap,
            "whole": opts.tile_whole,
        }
    return result, summary


def load_predictions(path: str | Path) -> list[dict[str, Any]]:
    """A COCO results file (a JSON list of detections)."""
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of COCO detections")
    return data
