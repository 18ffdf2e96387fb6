"""Task-aligned assignment (Feng et al., "TOOD", ICCV 2021), as YOLOv9 trains with it."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from yolov9.ops.boxes import complete_box_iou


class Assignment(NamedTuple):
    """Targets for every anchor.

    Attributes:
        labels: (B, A) int64 assigned class. Only meaningful where ``fg_mask`` is True:
            negatives carry the class of their image's first ground-truth box (index 0), as
            in the reference; their ``scores`` row is all zeros.
        boxes_xyxy: (B, A, 4) assigned ground-truth box, in the input's unit (negatives: the
            image's first box, as for ``labels``).
        scores: (B, A, C) soft class targets: the normalised alignment at the assigned class.
        fg_mask: (B, A) bool, positive anchors.
        gt_index: (B, A) int64 index of the assigned ground truth in its image.
    """

    labels: Tensor
    boxes_xyxy: Tensor
    scores: Tensor
    fg_mask: Tensor
    gt_index: Tensor


class TaskAlignedAssigner(nn.Module):
    """Assign ground truth to anchors by alignment ``score^alpha * CIoU^beta``.

    Steps: candidates are anchors whose centre lies inside a box; each box takes its ``topk``
    best-aligned candidates; an anchor claimed by several boxes goes to the one with the
    largest CIoU; targets are one-hot classes scaled so that each box's best anchor gets that
    box's largest CIoU.

    Args:
        num_classes: C.
        topk: candidates kept per ground-truth box (10).
        alpha: exponent of the class score (0.5).
        beta: exponent of the CIoU (6.0).
        resolve_among_candidates: on conflicts, pick among the boxes that selected the anchor
            (a fix of the reference, which takes the argmax over all boxes of the image, so an
            anchor can land on a box that never chose it). Off by default: the reference's rule,
            which the published models were trained with.
        eps: numerical floor (1e-9).
    """

    def __init__(
        self,
        num_classes: int,
        topk: int = 10,
        alpha: float = 0.5,
        beta: float = 6.0,
        resolve_among_candidates: bool = False,
        eps: float = 1e-9,
    ) -> None:
        super().__init__()
        self.num_classes, self.topk, self.alpha, self.beta, self.eps = (
            num_classes,
            topk,
            alpha,
            beta,
            eps,
        )
        self.resolve_among_candidates = resolve_among_candidates

    @torch.no_grad()
    def forward(
        self,
        pred_scores: Tensor,
        pred_boxes_xyxy: Tensor,
        anchor_points: Tensor,
        gt_labels: Tensor,
        gt_boxes_xyxy: Tensor,
        gt_mask: Tensor,
    ) -> Assignment:
        """
        Args:
            pred_scores: (B, A, C) class probabilities (after sigmoid), detached.
            pred_boxes_xyxy: (B, A, 4) predicted boxes, in pixels.
            anchor_points: (A, 2) anchor centres, in pixels.
            gt_labels: (B, M, 1) int64 classes of the padded ground truth.
            gt_boxes_xyxy: (B, M, 4) padded ground-truth boxes, in pixels.
            gt_mask: (B, M, 1) bool, True for real (not padding) boxes.
        """
        b, a, _ = pred_scores.shape
        m = gt_boxes_xyxy.shape[1]
        device = pred_scores.device
        if m == 0:
            return Assignment(
                torch.zeros(b, a, dtype=torch.long, device=device),
                torch.zeros_like(pred_boxes_xyxy),
                torch.zeros_like(pred_scores),
                torch.zeros(b, a, dtype=torch.bool, device=device),
                torch.zeros(b, a, dtype=torch.long, device=device),
            )
        # 1. candidates: anchor centres strictly inside a box
        inside = self._centres_inside(anchor_points, gt_boxes_xyxy)  # (B, M, A)
        # 2. alignment of every (box, anchor) pair
        align, overlaps = self._alignment(pred_scores, pred_boxes_xyxy, gt_labels, gt_boxes_xyxy)
        # 3. each box keeps its top-k aligned anchors among the candidates
        topk = self._topk_mask(align * inside, gt_mask.expand(-1, -1, self.topk).bool())
        mask_pos = topk * inside * gt_mask  # (B, M, A)
        # 4. an anchor claimed by several boxes goes to the box with the largest CIoU
        gt_index, fg_mask, mask_pos = self._resolve_conflicts(mask_pos, overlaps, m)
        # 5. targets
        labels, boxes, scores = self._targets(gt_labels, gt_boxes_xyxy, gt_index, fg_mask)
        # 6. soft targets: each box's best anchor gets that box's largest CIoU
        align = align * mask_pos
        pos_align = align.amax(dim=-1, keepdim=True)  # (B, M, 1)
        pos_overlap = (overlaps * mask_pos).amax(dim=-1, keepdim=True)
        norm = (align * pos_overlap / (pos_align + self.eps)).amax(-2).unsqueeze(-1)  # (B, A, 1)
        return Assignment(labels, boxes, scores * norm, fg_mask.bool(), gt_index)

    @staticmethod
    def _centres_inside(points: Tensor, boxes: Tensor, eps: float = 1e-9) -> Tensor:
        lt, rb = boxes[..., None, :2], boxes[..., None, 2:4]  # (B, M, 1, 2)
        deltas = torch.cat((points - lt, rb - points), dim=-1)  # (B, M, A, 4)
        return deltas.amin(-1).gt(eps).to(boxes.dtype)

    def _alignment(
        self, pred_scores: Tensor, pred_boxes: Tensor, gt_labels: Tensor, gt_boxes: Tensor
    ) -> tuple[Tensor, Tensor]:
        b, m = gt_labels.shape[:2]
        image = torch.arange(b, device=gt_labels.device).view(-1, 1).expand(-1, m)
        cls = gt_labels.squeeze(-1).long()
        box_scores = pred_scores[image, :, cls]  # (B, M, A): score of box's class at anchor
        overlaps = complete_box_iou(gt_boxes.unsqueeze(2), pred_boxes.unsqueeze(1)).clamp(0)
        align = box_scores.pow(self.alpha) * overlaps.pow(self.beta)
        return align, overlaps

    def _topk_mask(self, metrics: Tensor, valid: Tensor) -> Tensor:
        """(B, M, A) 1 for each box's top-k anchors (padding boxes select nothing)."""
        num_anchors = metrics.shape[-1]
        idx = torch.topk(metrics, self.topk, dim=-1, largest=True).indices  # (B, M, k)
        idx = idx.masked_fill(~valid, 0)
        count = F.one_hot(idx, num_anchors).sum(-2)
        # padding rows point every slot at anchor 0: counted more than once -> dropped
        return count.masked_fill(count > 1, 0).to(metrics.dtype)

    def _resolve_conflicts(
        self, mask_pos: Tensor, overlaps: Tensor, m: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        fg = mask_pos.sum(-2)  # (B, A)
        if fg.max() > 1:
            multi = (fg.unsqueeze(1) > 1).expand(-1, m, -1)
            ranked = overlaps * mask_pos if self.resolve_among_candidates else overlaps
            best = F.one_hot(ranked.argmax(1), m).permute(0, 2, 1).to(overlaps.dtype)
            mask_pos = torch.where(multi, best, mask_pos)
            fg = mask_pos.sum(-2)
        return mask_pos.argmax(-2), fg, mask_pos

    def _targets(
        self, gt_labels: Tensor, gt_boxes: Tensor, gt_index: Tensor, fg_mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        b, m = gt_labels.shape[:2]
        flat = gt_index + torch.arange(b, device=gt_index.device).unsqueeze(-1) * m  # (B, A)
        labels = gt_labels.long().flatten()[flat].clamp_(0)
        boxes = gt_boxes.view(-1, 4)[flat]
        scores = F.one_hot(labels, self.num_classes)
        scores = torch.where(fg_mask[..., None] > 0, scores, 0)
        return labels, boxes, scores.to(gt_boxes.dtype)
