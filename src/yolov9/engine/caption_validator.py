"""Per-epoch validation of a caption model in training: BLEU-1..4 and CIDEr-D of its captions
on the validation split (as ``yolov9 val`` scores them, :mod:`yolov9.engine.caption_val`),
and the mean loss of both heads on the split's images with one caption each (drawn once,
the same every epoch)."""

from __future__ import annotations

import torch

from yolov9.data.caption_training import CaptionTrainDataset, CaptionTraining, Encoder
from yolov9.engine.caption_val import score_model_captions
from yolov9.engine.evaluator import ValidationLosses, per_head_losses
from yolov9.inference.backends import TorchBackend
from yolov9.loss import Criterion
from yolov9.models import YOLOv9
from yolov9.utils.device import default_workers


class CaptionValidator(ValidationLosses):
    """Validates a caption model on one split; ``record`` once per validated epoch."""

    fitness = "CIDEr-D"  # the record key that picks the best epoch

    def __init__(
        self,
        split: CaptionTraining,
        encode: Encoder,
        *,
        imgsz: int,
        batch_size: int,
        workers: int,
        device: torch.device,
        max_tokens: int,
        progress: bool = True,
    ) -> None:
        self.split, self.imgsz, self.device, self.progress = split, imgsz, device, progress
        self.batch_size, self.workers = batch_size, default_workers(workers)
        self.loss_set = CaptionTrainDataset(
            split.dataset.records, split.captions, encode, imgsz, max_tokens=max_tokens
        )

    def record(self, model: YOLOv9, criterion: Criterion | None = None) -> dict[str, float]:
        """The epoch's figures: ``BLEU-1`` .. ``BLEU-4``, ``CIDEr-D`` and ``val/main/*``
        ``val/aux/*``."""
        backend = TorchBackend(
            model, self.split.dataset.names, imgsz=self.imgsz, device=self.device, prepare=False
        )
        scores, _ = score_model_captions(
            backend,
            self.split,
            imgsz=self.imgsz,
            batch_size=self.batch_size,
            progress=self.progress,
        )
        out = scores.as_dict()
        if criterion is not None:
            out |= per_head_losses(self.losses(model, criterion))
        return out
