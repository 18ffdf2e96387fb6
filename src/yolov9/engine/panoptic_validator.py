"""Per-epoch validation of a panoptic model in training: PQ, SQ, RQ, mIoU and the things' box
and mask AP on the validation split (semantic label maps: mIoU only), as ``yolov9 val`` scores
them (:mod:`yolov9.engine.panoptic_val`), and the mean loss of both heads on the split's
letterboxed images with their full targets (boxes, masks, semantic)."""

from __future__ import annotations

import torch

from yolov9.data.panoptic_training import PanopticTraining
from yolov9.data.train_dataset import TrainDataset
from yolov9.engine.evaluator import ValidationLosses, per_head_losses
from yolov9.engine.panoptic_val import evaluate_model
from yolov9.inference.backends import TorchBackend
from yolov9.loss import Criterion
from yolov9.models import YOLOv9
from yolov9.utils.device import default_workers


class PanopticValidator(ValidationLosses):
    """Validates a panoptic model on one split; ``record`` once per validated epoch."""

    def __init__(
        self,
        split: PanopticTraining,
        *,
        imgsz: int,
        batch_size: int,
        workers: int,
        device: torch.device,
        progress: bool = True,
    ) -> None:
        self.split, self.imgsz, self.device, self.progress = split, imgsz, device, progress
        self.batch_size, self.workers = batch_size, default_workers(workers)
        self.loss_set = TrainDataset(
            split.dataset.records,
            imgsz,
            augment=False,
            masks=True,
            semantic=split.source,
        )

    @property
    def fitness(self) -> str:
        """The record key that picks the best epoch: PQ, or mIoU for label maps."""
        return "mIoU" if self.split.semantic_only else "PQ"

    def record(self, model: YOLOv9, criterion: Criterion | None = None) -> dict[str, float]:
        """The epoch's validation figures: ``PQ`` ``SQ`` ``RQ`` ``PQ_th`` ``PQ_st``, ``mIoU``,
        box ``AP`` ``AP50``, ``mask/AP`` ``mask/AP50`` and ``val/main/*`` ``val/aux/*``."""
        backend = TorchBackend(
            model,
            self.split.dataset.names,
            imgsz=self.imgsz,
            device=self.device,
            prepare=False,
            stuff_names=self.split.stuff_names,
        )
        report = evaluate_model(self.split.truth, backend, imgsz=self.imgsz, progress=self.progress)
        out = report.figures()
        if criterion is not None:
            out |= per_head_losses(self.losses(model, criterion))
        return out
