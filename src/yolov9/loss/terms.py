"""The three loss terms of YOLOv9, as pure functions with explicit normalisers."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from yolov9.ops.boxes import complete_box_iou


def bce_class_loss(pred_logits: Tensor, target_scores: Tensor, normalizer: Tensor) -> Tensor:
    """Binary cross-entropy over every anchor and class, summed, divided by ``normalizer``.

    Args:
        pred_logits: (B, A, C) class logits.
        target_scores: (B, A, C) soft targets in [0, 1].
        normalizer: scalar, max(sum of target scores, 1).
    """
    loss = F.binary_cross_entropy_with_logits(pred_logits, target_scores, reduction="none")
    return loss.sum() / normalizer


def ciou_box_loss(
    pred_boxes_xyxy: Tensor, target_boxes_xyxy: Tensor, weight: Tensor, normalizer: Tensor
) -> Tensor:
    """Sum of ``(1 - CIoU) * weight`` over positive anchors, divided by ``normalizer``.

    Args:
        pred_boxes_xyxy: (P, 4) predicted boxes of the positives.
        target_boxes_xyxy: (P, 4) their targets (same unit).
        weight: (P,) each positive's target-score mass.
    """
    ciou = complete_box_iou(pred_boxes_xyxy, target_boxes_xyxy)
    return ((1.0 - ciou) * weight).sum() / normalizer


def dfl_loss(pred_dist: Tensor, target_ltrb: Tensor, weight: Tensor, normalizer: Tensor) -> Tensor:
    """Distribution Focal Loss (Li et al., "Generalized Focal Loss", NeurIPS 2020).

    Each side's target distance t (in bins, below R - 1) is split between bins floor(t) and
    floor(t) + 1 with linear weights; cross-entropy to both, averaged over the four sides,
    weighted per positive, summed, divided by ``normalizer``.

    Args:
        pred_dist: (P, 4, R) DFL logits of the positives.
        target_ltrb: (P, 4) target distances in stride units, clamped to [0, R - 1.01].
        weight: (P,) each positive's target-score mass.
    """
    left = target_ltrb.long()
    right = left + 1
    w_left = right.to(target_ltrb.dtype) - target_ltrb
    w_right = 1.0 - w_left
    logits = pred_dist.reshape(-1, pred_dist.shape[-1])
    ce_left = F.cross_entropy(logits, left.view(-1), reduction="none").view(left.shape)
    ce_right = F.cross_entropy(logits, right.view(-1), reduction="none").view(left.shape)
    per_anchor = (ce_left * w_left + ce_right * w_right).mean(-1)
    return (per_anchor * weight).sum() / normalizer
