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
from yolov9.deploy.backends import InferenceBackend, TorchBackend
from yolov9.metrics.coco import CocoMetrics, coco_ground_truth, evaluate_coco, to_coco_results
from yolov9.metrics.confusion import ConfusionMatrix
from yolov9.models import YOLOv9
from yolov9.ops.nms import non_max_suppression
from yolov9.utils.device import default_workers, select_device

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
        workers: int = -1,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        progress: bool = True,
    ) -> None:
        if imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32, got {imgsz}")
        self.dataset = dataset
        self.gt = coco_ground_truth(dataset)
        self.imgsz, self.batch_size, self.rect = imgsz, batch_size, rect
        self.nms = {"conf": conf, "iou": iou, "max_det": max_det, "multi_label": multi_label}
        self.workers = default_workers(workers)
        self.precision, self.progress = precision, progress
        self.device = select_device(device)

    def _data(self, backend: InferenceBackend | None) -> EvalDataset:
        """Rect batches at ``imgsz``, or an export's fixed input shape and batch size."""
        if backend is not None and backend.fixed_shape is not None:
            h, w = backend.fixed_shape
            if h != w:
                raise ValueError(
                    f"exports with a non-square fixed input ({h}x{w}) are not supported"
                )
            return EvalDataset(self.dataset.records, h, backend.fixed_batch or 1, rect=False)
        batch = (
            backend.fixed_batch if backend is not None and backend.fixed_batch else self.batch_size
        )
        return EvalDataset(self.dataset.records, self.imgsz, batch, rect=self.rect)

    @torch.inference_mode()
    def run(
        self,
        model: YOLOv9 | InferenceBackend,
        *,
        criterion: Callable[..., Any] | None = None,
        out_dir: Path | None = None,
        prepared: bool = False,
        examples: int = 4,
    ) -> EvalResult:
        """Evaluate a model or an exported model's backend.

        A :class:`YOLOv9` is first copied into a fused inference graph, unless ``prepared``.
        With a ``criterion`` (training: the model as it is, auxiliary head included) the mean
        validation loss of both heads is returned too.
        """
        backend: InferenceBackend | None = None
        net: YOLOv9 | None = None
        if isinstance(model, InferenceBackend):
            backend = model
        elif criterion is not None or prepared:
            net = model
        else:
            backend = TorchBackend(
                model,
                self.dataset.names,
                imgsz=self.imgsz,
                device=self.device,
                precision=self.precision,
            )
        device = backend.device if backend is not None else self.device
        cat_ids = self.dataset.category_ids
        results: list[dict[str, Any]] = []
        failed: list[str] = []
        failed_ids: set[int] = set()
        loss_sum: dict[str, float] = {}
        t_pre = t_inf = t_post = 0.0
        n_batches = 0
        data = self._data(backend)
        bar = tqdm(
            eval_loader(data, self.workers),
            desc="val",
            unit="batch",
            disable=None if self.progress else True,
            leave=False,
        )
        t0 = time.perf_counter()
        for batch in bar:
            images = batch.images.to(device, non_blocking=True).float().div_(255.0)
            fixed = backend.fixed_batch if backend is not None else None
            if fixed and images.shape[0] < fixed:  # an export with a fixed batch: pad the tail
                images = torch.cat(
                    (images, images[-1:].expand(fixed - images.shape[0], -1, -1, -1))
                )
            t1 = time.perf_counter()
            if net is None:
                assert backend is not None
                boxes, scores = (None, None) if backend.has_nms else backend.infer(images)
            else:
                with torch.autocast(device.type, torch.bfloat16, enabled=self.precision == "bf16"):
                    out = net(images)
                if criterion is not None:
                    losses = criterion(out, batch.targets.to(device))
                    for k, v in losses.parts.items():
                        loss_sum[k] = loss_sum.get(k, 0.0) + float(v)
                    n_batches += 1
                main = out.main._replace(
                    pred_dist=out.main.pred_dist.float(), pred_logits=out.main.pred_logits.float()
                )
                boxes, scores = net.head.decode(main)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t2 = time.perf_counter()
            if boxes is None:  # an export with NMS inside
                assert backend is not None
                dets = backend.detect(images, **self.nms)
            else:
                dets = non_max_suppression(
                    boxes,
                    scores,
                    conf_threshold=self.nms["conf"],
                    iou_threshold=self.nms["iou"],
                    max_det=self.nms["max_det"],
                    multi_label=self.nms["multi_label"],
                )
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
                results += to_coco_results(record.image_id, b, s, c, cat_ids)
            t3 = time.perf_counter()
            t_pre += t1 - t0
            t_inf += t2 - t1
            t_post += t3 - t2
            t0 = time.perf_counter()
        n = len(data)
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
