"""The all-task criterion (``yolov9-x-all``): the panoptic terms (boxes, instance masks,
semantic focal and dice, main and auxiliary heads) plus the caption term of the main head
(:func:`~yolov9.loss.caption.with_caption_term`).

With ``caption_gain`` 0 (the vision step of the language-step schedule, or data without
captions) the caption term is not computed; with ``vision=False`` (the language step) only the
caption term is. A batch computes the terms of the labels it carries (``Targets.labels``: a
mixture of datasets that each carry some of them); the others are 0.
"""

from __future__ import annotations

from typing import Any

import torch

from yolov9.loss.caption import with_caption_term
from yolov9.loss.interface import LossOutput, Targets
from yolov9.loss.panoptic import TERMS as PANOPTIC_TERMS
from yolov9.loss.panoptic import PanopticLoss
from yolov9.models.yolov9 import ModelOutput

TERMS = (*PANOPTIC_TERMS, "caption")


class AllTasksLoss(PanopticLoss):
    """Loss of an all-task model (module docstring).

    Args:
        num_classes: the thing classes C.
        caption_gain: the caption term's weight (0: not computed).
        label_smoothing: of the caption cross-entropy.
        vision: whether the panoptic terms count (False: the caption term alone).
        Other arguments as :class:`~yolov9.loss.panoptic.PanopticLoss`.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        caption_gain: float = 1.0,
        label_smoothing: float = 0.1,
        vision: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, **kwargs)  # its terms stay the panoptic ones
        self.caption_gain, self.label_smoothing = caption_gain, label_smoothing
        self.vision = vision

    def forward(self, outputs: ModelOutput, targets: Targets) -> LossOutput:
        if self.vision:
            out = super().forward(outputs, targets)
        else:
            zero = torch.zeros((), device=outputs.main.pred_logits.device)
            out = LossOutput(zero, dict.fromkeys(PANOPTIC_TERMS, 0.0))
        if not self.caption_gain or not targets.has("captions"):
            return LossOutput(out.total, {**out.parts, "caption": 0.0, "main/caption": 0.0})
        return with_caption_term(
            out,
            outputs,
            targets,
            gain=self.caption_gain,
            label_smoothing=self.label_smoothing,
            scale_by_batch=self.scale_by_batch,
        )
