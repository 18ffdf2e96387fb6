"""Evaluation: run a model over a split with the reference protocol and score it with COCOeval.

Defaults are the reference's COCO settings: letterbox into rectangular batches (pad 0.5,
stride 32), confidence 0.001, NMS IoU 0.7, at most 300 detections, multi-label. Boxes are
mapped back to original image pixels before scoring. Nothing is time-limited or truncated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from yolov9.data.dataset import DetectionDataset
from yolov9.data.images import boxes_to_original, read_image
from yolov9.data.loader import EvalDataset, eval_loader
from yolov9.engine.predictor import prepare_for_inference
from yolov9.metrics.coco import CocoMetrics, coco_ground_truth, evaluate_coco, to_coco_results
from yolov9.metrics.confusion import ConfusionMatrix
from yolov9.models import YOLOv9
from yolov9.ops.nms import non_max_suppression
from yolov9.utils.device import select_device

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    metrics: CocoMetrics
    predictions: list[dict[str, Any]]  # COCO result entries
    speed_ms: dict[str, float]  # per image: preprocess, inference, postprocess
    images: int
    failed: list[str] = field(default_factory=list)  # unreadable images (excluded)
    losses: dict[str, float] | None = None  # mean validation loss terms, if a criterion ran
    plots: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        m = self.metrics
        s = self.speed_ms
        text = (
            f"{self.images} images: AP {m.AP:.4f}  AP50 {m.AP50:.4f}  AP75 {m.AP75:.4f}  "
            f"APs {m.APs:.4f}  APm {m.APm:.4f}  APl {m.APl:.4f}  AR100 {m.AR100:.4f}\n"
            f"speed per image: {s['preprocess']:.1f} ms preprocess, {s['inference']:.1f} ms "
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
        workers: int = 0,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        progress: bool = True,
    ) -> None:
        if imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32, got {imgsz}")
        self.dataset = dataset
        self.gt = coco_ground_truth(dataset)
        self.data = EvalDataset(dataset.records, imgsz, batch_size, rect=rect)
        self.nms = {
            "conf_threshold": conf,
            "iou_threshold": iou,
            "max_det": max_det,
            "multi_label": multi_label,
        }
        self.workers, self.precision, self.progress = workers, precision, progress
        self.device = select_device(device)

    @torch.inference_mode()
    def run(
        self,
        model: YOLOv9,
        *,
        criterion: Callable[..., Any] | None = None,
        out_dir: Path | None = None,
        prepared: bool = False,
        examples: int = 4,
    ) -> EvalResult:
        """Evaluate ``model``. Unless ``prepared``, a fused inference copy is made first.

        With a ``criterion`` (training), the model keeps its auxiliary head and the mean
        validation loss of both heads is returned too.
        """
        net = model if prepared else prepare_for_inference(model, self.device, self.precision)
        cat_ids = self.dataset.category_ids
        results: list[dict[str, Any]] = []
        failed: list[str] = []
        failed_ids: set[int] = set()
        loss_sum: dict[str, float] = {}
        t_pre = t_inf = t_post = 0.0
        n_batches = 0
        loader = eval_loader(self.data, self.workers)
        bar = tqdm(
            loader, desc="val", unit="batch", disable=None if self.progress else True, leave=False
        )
        t0 = time.perf_counter()
        for batch in bar:
            images = batch.images.to(self.device, non_blocking=True)
            images = images.half() if self.precision == "fp16" else images.float()
            images = images.div_(255.0)
            t1 = time.perf_counter()
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
                out = net(images)
            if criterion is not None:
                losses = criterion(out, batch.targets.to(self.device))
                for k, v in losses.parts.items():
                    loss_sum[k] = loss_sum.get(k, 0.0) + float(v)
                n_batches += 1
            main = out.main._replace(
                pred_dist=out.main.pred_dist.float(), pred_logits=out.main.pred_logits.float()
            )
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            t2 = time.perf_counter()
            boxes, scores = net.head.decode(main)
            dets = non_max_suppression(boxes, scores, **self.nms)
            for sample, det in zip(batch.samples, dets, strict=True):
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
                results += to_coco_results(record.image_id, b, s, c, cat_ids)
            t3 = time.perf_counter()
            t_pre += t1 - t0
            t_inf += t2 - t1
            t_post += t3 - t2
            t0 = time.perf_counter()
        n = len(self.data)
        ok_ids = [r.image_id for r in self.dataset.records if r.image_id not in failed_ids]
        for message in failed:
            log.warning("excluded from the metrics: %s", message)
        metrics = evaluate_coco(self.gt, results, image_ids=ok_ids)
        speed = {
            "preprocess": 1e3 * t_pre / n,
            "inference": 1e3 * t_inf / n,
            "postprocess": 1e3 * t_post / n,
        }
        losses = {k: v / max(n_batches, 1) for k, v in loss_sum.items()} if criterion else None
        result = EvalResult(metrics, results, speed, n - len(failed), failed, losses)
        if out_dir is not None:
            result.plots = save_plots(self.dataset, results, metrics, out_dir, examples=examples)
        return result


def save_plots(
    dataset: DetectionDataset,
    results: list[dict[str, Any]],
    metrics: CocoMetrics,
    out_dir: Path,
    *,
    examples: int = 4,
) -> list[Path]:
    """PR curves, confusion matrix and (ground truth | prediction) examples, from COCO
    results, so a model run and a scored results file get the same plots."""
    from yolov9.utils.plots import plot_confusion_matrix, plot_examples, plot_pr_curves

    out_dir.mkdir(parents=True, exist_ok=True)
    class_of = {cat: k for k, cat in enumerate(dataset.category_ids)}
    per_image: dict[int, list[list[float]]] = {}
    for r in results:
        x, y, w, h = r["bbox"]
        per_image.setdefault(r["image_id"], []).append(
            [x, y, x + w, y + h, r["score"], class_of[r["category_id"]]]
        )
    confusion = ConfusionMatrix(len(dataset.names))
    shown = []
    for record in dataset.records:
        dets = np.array(per_image.get(record.image_id, []), np.float64).reshape(-1, 6)
        boxes, scores, classes = dets[:, :4], dets[:, 4], dets[:, 5].astype(np.int64)
        gt = record.train_mask
        confusion.update(boxes, scores, classes, record.boxes[gt], record.classes[gt])
        if len(shown) < examples:
            keep = scores >= 0.25
            shown.append(
                (
                    read_image(record.path),
                    (record.boxes[gt], record.classes[gt]),
                    (boxes[keep], scores[keep], classes[keep]),
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


def score_predictions(dataset: DetectionDataset, predictions: list[dict[str, Any]]) -> CocoMetrics:
    """COCO metrics of an existing results list (no model) against ``dataset``."""
    return evaluate_coco(coco_ground_truth(dataset), predictions)
