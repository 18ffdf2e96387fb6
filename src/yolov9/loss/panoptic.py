"""The panoptic criterion: the segmentation terms plus two semantic terms, per head.

The semantic terms of one head (the reference's ``utils/panoptic/loss_tal.py``), on its
semantic logits (B, K, H, W) at stride 4 and the multi-hot target T of the same size:

* focal: the sigmoid focal loss (alpha 0.25, gamma 2, torchvision's definition) averaged over
  every element; the reference then halves it and multiplies by 20 and by its gain 2.5, so its
  weight here is 25;
* dice: with P the softmax over the channels, ``1 - (2 sum(P T) + 1) / (sum P + sum T + 1)``
  with the sums over the whole batch; the reference halves it and multiplies by 2.5: weight 1.25.

Gains box 7.5, seg 2.5 / batch size, cls 0.5, dfl 1.5 as segmentation; with PGI every term is
``main + aux_weight * aux``, each head with its own semantic logits; the total is multiplied by
the batch size.

Unlike the reference (which has no ignore index: unlabelled pixels are all-zero targets that
every channel is pushed away from), pixels in ``Targets.semantic_ignore`` (void, unlabelled,
letterbox padding) count in neither term. Without an ignore map the terms are the reference's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from yolov9.loss.interface import Targets
from yolov9.loss.segment import TERMS as SEGMENT_TERMS
from yolov9.loss.segment import SegmentationLoss
from yolov9.models.head import HeadOutput

TERMS = (*SEGMENT_TERMS, "focal", "dice")  # the reference's logging order


def semantic_focal(
    logits: Tensor,
    target: Tensor,
    ignore: Tensor | None = None,
    alpha: float = 0.25,
    gamma: float = 2.0,
) -> Tensor:
    """Mean sigmoid focal loss over the elements of (B, K, H, W) logits; pixels where
    ``ignore`` (B, H, W) is True are left out."""
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    if ignore is None:
        return loss.mean()
    keep = (~ignore).unsqueeze(1).to(loss.dtype)
    count = keep.sum() * logits.shape[1]
    return (loss * keep).sum() / count.clamp(min=1)


def semantic_dice(logits: Tensor, target: Tensor, ignore: Tensor | None = None) -> Tensor:
    """``1 - dice`` of the channel softmax against the target, summed over the whole batch;
    ignored pixels leave both sums."""
    p = logits.softmax(1)
    if ignore is not None:
        keep = (~ignore).unsqueeze(1).to(p.dtype)
        p, target = p * keep, target * keep
    dice = (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    return 1 - dice


class PanopticLoss(SegmentationLoss):
    """Loss of one or two panoptic heads (module docstring).

    Args:
        num_classes: the thing classes C (the semantic channels are C + stuff).
        focal_gain, dice_gain: the semantic terms' weights (25 and 1.25: the reference's).
        Other arguments as :class:`~yolov9.loss.segment.SegmentationLoss`.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        focal_gain: float = 25.0,
        dice_gain: float = 1.25,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, **kwargs)
        self.terms = TERMS
        self.gains = {**self.gains, "focal": focal_gain, "dice": dice_gain}

    def head_terms(
        self,
        head: HeadOutput,
        gt: tuple[Tensor, Tensor, Tensor],
        masks: Tensor | None,
        image_of: Tensor,
        targets: Targets,
    ) -> dict[str, Tensor]:
        terms = super().head_terms(head, gt, masks, image_of, targets)
        if head.semantic is None:
            raise ValueError("the model's head has no semantic output (a panoptic head)")
        if not targets.has("semantic"):
            zero = head.semantic.new_zeros((), dtype=torch.float32)
            return {**terms, "focal": zero, "dice": zero}
        if targets.semantic is None:
            raise ValueError("the panoptic loss needs the batch's semantic target")
        logits = head.semantic.float()
        size = tuple(logits.shape[-2:])
        target = targets.semantic.to(logits.device).float()
        if target.shape[1] != logits.shape[1]:
            raise ValueError(
                f"semantic target of {target.shape[1]} channels for {logits.shape[1]} logits"
            )
        if tuple(target.shape[-2:]) != size:
            target = F.interpolate(target, size, mode="nearest")
        ignore = targets.semantic_ignore
        if ignore is not None:
            ignore = ignore.to(logits.device)
            if tuple(ignore.shape[-2:]) != size:
                ignore = F.interpolate(ignore[:, None].float(), size, mode="nearest")[:, 0] > 0
        terms["focal"] = semantic_focal(logits, target, ignore)
        terms["dice"] = semantic_dice(logits, target, ignore)
        return terms
