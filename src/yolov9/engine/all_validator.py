"""Per-epoch validation of an all-task model in training: the panoptic figures (PQ, SQ, RQ,
mIoU, box and mask AP: :class:`~.panoptic_validator.PanopticValidator`) and the caption
figures (BLEU-1..4, CIDEr-D: :class:`~.caption_validator.CaptionValidator`) of the validation
split in one record, the mean loss of both heads on its unaugmented images with every target
(boxes, masks, semantic, one caption each), and ``all-tasks``, the figure that picks the best
epoch: the mean of PQ, box AP, mask AP, mIoU, BLEU-4 and CIDEr-D / 10 (each task counts
once; CIDEr-D is on a 0-10 scale; on semantic label maps, which have no things, of mIoU,
BLEU-4 and CIDEr-D / 10)."""

from __future__ import annotations

import statistics

import torch

from yolov9.data.caption_training import CaptionTrainDataset, CaptionTraining, Encoder, captions_for
from yolov9.data.language_step import CaptionedDataset
from yolov9.data.panoptic_training import PanopticTraining
from yolov9.engine.caption_validator import CaptionValidator
from yolov9.engine.evaluator import ValidationLosses, per_head_losses
from yolov9.engine.panoptic_validator import PanopticValidator
from yolov9.loss import Criterion
from yolov9.models import YOLOv9

FITNESS = "all-tasks"
# the figures whose mean is the fitness, each with its scale to 0..1
PARTS = {"PQ": 1.0, "AP": 1.0, "mask/AP": 1.0, "mIoU": 1.0, "BLEU-4": 1.0, "CIDEr-D": 0.1}


def all_tasks_fitness(record: dict[str, float]) -> float:
    """The mean of the figures of ``PARTS`` the record has (module docstring; semantic label
    maps give mIoU but no PQ or AP)."""
    return statistics.mean(record[k] * scale for k, scale in PARTS.items() if k in record)


class AllTasksValidator(ValidationLosses):
    """Validates an all-task model on one split; ``record`` once per validated epoch."""

    fitness = FITNESS

    def __init__(
        self,
        panoptic: PanopticTraining,
        captions: CaptionTraining,
        encode: Encoder,
        *,
        imgsz: int,
        batch_size: int,
        workers: int,
        device: torch.device,
        max_tokens: int,
        progress: bool = True,
    ) -> None:
        kw = {"imgsz": imgsz, "batch_size": batch_size, "workers": workers, "device": device}
        self.panoptic = PanopticValidator(panoptic, progress=progress, **kw)
        self.captions = CaptionValidator(
            captions, encode, max_tokens=max_tokens, progress=progress, **kw
        )
        records = panoptic.dataset.records
        words = CaptionTrainDataset(
            records, captions_for(records, captions), encode, imgsz, max_tokens=max_tokens
        )
        self.loss_set = CaptionedDataset(self.panoptic.loss_set, words)
        self.batch_size, self.workers, self.device = batch_size, self.panoptic.workers, device

    def record(self, model: YOLOv9, criterion: Criterion | None = None) -> dict[str, float]:
        """The panoptic and the caption figures, ``all-tasks`` and ``val/main/*``
        ``val/aux/*``."""
        out = self.panoptic.record(model) | self.captions.record(model)
        out[FITNESS] = all_tasks_fitness(out)
        if criterion is not None:
            out |= per_head_losses(self.losses(model, criterion))
        return out
