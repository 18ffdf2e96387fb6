"""The caption criterion: the PGI detection terms plus the caption term.

The caption term is the cross-entropy of the next-token logits against the caption (teacher
forcing), averaged over its tokens, padding left out, with label smoothing (0.1 by default);
its gain weighs it like a detection term, and the total is multiplied by the batch size as the
detection criterion's.

With ``detection=False`` (caption data without boxes) the detection terms are not computed at
all: the detection heads receive no gradient, so their learnt weights stay as they were (weight
decay included, which an optimiser applies only to parameters with a gradient; their
BatchNorm statistics, estimates rather than weights, follow the shared features). The logged
box, cls and dfl terms are then 0.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from yolov9.loss.criterion import YOLOv9Loss
from yolov9.loss.interface import LossOutput, Targets
from yolov9.models.caption import PAD
from yolov9.models.yolov9 import ModelOutput

TERMS = ("box", "cls", "dfl", "caption")


def caption_cross_entropy(logits: Tensor, tokens: Tensor, label_smoothing: float = 0.1) -> Tensor:
    """Mean cross-entropy of (B, T - 1, V) next-token logits against ``tokens`` (B, T: BOS ...
    EOS, PAD after), padding ignored."""
    target = tokens[:, 1 : 1 + logits.shape[1]].to(logits.device)
    return F.cross_entropy(
        logits.float().flatten(0, 1),
        target.flatten(),
        ignore_index=PAD,
        label_smoothing=label_smoothing,
    )


def with_caption_term(
    vision: LossOutput,
    outputs: ModelOutput,
    targets: Targets,
    *,
    gain: float,
    label_smoothing: float,
    scale_by_batch: bool,
) -> LossOutput:
    """``vision`` (the detection, segmentation or panoptic terms of the batch) plus the caption
    term, weighed by ``gain`` and, like the box terms, multiplied by the batch size."""
    logits = outputs.main.caption_logits
    if logits is None or targets.captions is None:
        raise ValueError("the caption loss needs the captions (given to the model and here)")
    term = caption_cross_entropy(logits, targets.captions, label_smoothing)
    weighted = gain * term
    scale = logits.shape[0] if scale_by_batch else 1
    parts = dict(vision.parts)
    parts["main/caption"] = float(term.detach())
    parts["caption"] = float(weighted.detach())
    return LossOutput(vision.total + weighted * scale, parts)


class CaptionLoss(YOLOv9Loss):
    """Loss of a caption model (module docstring).

    Args:
        num_classes: C.
        caption_gain: the caption term's weight.
        label_smoothing: of the caption cross-entropy.
        detection: whether the detection terms count (False: caption data without boxes).
        Other arguments as :class:`~yolov9.loss.criterion.YOLOv9Loss`.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        caption_gain: float = 1.0,
        label_smoothing: float = 0.1,
        detection: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, **kwargs)
        self.terms = TERMS
        self.caption_gain, self.label_smoothing = caption_gain, label_smoothing
        self.detection = detection

    def forward(self, outputs: ModelOutput, targets: Targets) -> LossOutput:
        if self.detection:
            vision = super().forward(outputs, targets)
        else:
            zero = torch.zeros((), device=outputs.main.pred_logits.device)
            vision = LossOutput(zero, dict.fromkeys(("box", "cls", "dfl"), 0.0))
        if not targets.has("captions"):  # a batch of a mixture without captions
            return LossOutput(vision.total, {**vision.parts, "caption": 0.0, "main/caption": 0.0})
        return with_caption_term(
            vision,
            outputs,
            targets,
            gain=self.caption_gain,
            label_smoothing=self.label_smoothing,
            scale_by_batch=self.scale_by_batch,
        )
