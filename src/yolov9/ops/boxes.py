"""Box format conversions and IoU variants (pure functions, any leading batch shape)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def box_xywh_to_xyxy(boxes_xywh: Tensor) -> Tensor:
    """(..., 4) centre-size boxes -> (..., 4) corner boxes."""
    cxcy, wh = boxes_xywh[..., :2], boxes_xywh[..., 2:4]
    return torch.cat((cxcy - wh / 2, cxcy + wh / 2), dim=-1)


def box_xyxy_to_xywh(boxes_xyxy: Tensor) -> Tensor:
    """(..., 4) corner boxes -> (..., 4) centre-size boxes."""
    x1y1, x2y2 = boxes_xyxy[..., :2], boxes_xyxy[..., 2:4]
    return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim=-1)


def box_area(boxes_xyxy: Tensor) -> Tensor:
    """(..., 4) corner boxes -> (...) areas (zero for degenerate boxes)."""
    wh = (boxes_xyxy[..., 2:4] - boxes_xyxy[..., :2]).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


def box_iou(boxes1_xyxy: Tensor, boxes2_xyxy: Tensor, eps: float = 1e-9) -> Tensor:
    """Pairwise IoU of two box sets.

    Args:
        boxes1_xyxy: (N, 4) corner boxes.
        boxes2_xyxy: (K, 4) corner boxes.

    Returns:
        (N, K) IoU matrix.
    """
    lt = torch.max(boxes1_xyxy[:, None, :2], boxes2_xyxy[None, :, :2])
    rb = torch.min(boxes1_xyxy[:, None, 2:4], boxes2_xyxy[None, :, 2:4])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_area(boxes1_xyxy)[:, None] + box_area(boxes2_xyxy)[None, :] - inter
    return inter / (union + eps)


def complete_box_iou(boxes1_xyxy: Tensor, boxes2_xyxy: Tensor, eps: float = 1e-7) -> Tensor:
    """Element-wise Complete-IoU (Zheng et al., "Distance-IoU Loss", AAAI 2020).

    CIoU = IoU - ρ²/c² - α·v, where ρ is the centre distance, c the diagonal of the smallest
    enclosing box, v = 4/π² (atan(w_gt/h_gt) - atan(w/h))² the aspect term and
    α = v / (v - IoU + 1 + eps), computed without gradient as in the YOLOv9 reference.
    ``boxes2`` plays the ground-truth role in the aspect term; ``eps`` is added to heights.

    Args:
        boxes1_xyxy: (..., 4) boxes (predictions).
        boxes2_xyxy: (..., 4) boxes (targets), broadcastable against ``boxes1``.

    Returns:
        (...) CIoU values in [-1.5, 1].
    """
    b1_x1, b1_y1, b1_x2, b1_y2 = boxes1_xyxy.unbind(-1)
    b2_x1, b2_y1, b2_x2, b2_y2 = boxes2_xyxy.unbind(-1)
    w1, h1 = b1_x2 - b1_x1, b1_y2 - b1_y1 + eps
    w2, h2 = b2_x2 - b2_x1, b2_y2 - b2_y1 + eps

    inter = (torch.min(b1_x2, b2_x2) - torch.max(b1_x1, b2_x1)).clamp(min=0) * (
        torch.min(b1_y2, b2_y2) - torch.max(b1_y1, b2_y1)
    ).clamp(min=0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union

    cw = torch.max(b1_x2, b2_x2) - torch.min(b1_x1, b2_x1)
    ch = torch.max(b1_y2, b2_y2) - torch.min(b1_y1, b2_y1)
    c2 = cw**2 + ch**2 + eps
    rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2) ** 2 + (b2_y1 + b2_y2 - b1_y1 - b1_y2) ** 2) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def dist2bbox(distance_ltrb: Tensor, anchor_points: Tensor) -> Tensor:
    """Distances from anchor points to box edges -> corner boxes.

    Args:
        distance_ltrb: (..., A, 4) distances (left, top, right, bottom).
        anchor_points: (A, 2) anchor centres, same unit as ``distance_ltrb``.

    Returns:
        (..., A, 4) xyxy boxes.
    """
    lt, rb = distance_ltrb[..., :2], distance_ltrb[..., 2:4]
    return torch.cat((anchor_points - lt, anchor_points + rb), dim=-1)


def bbox2dist(anchor_points: Tensor, boxes_xyxy: Tensor, max_dist: float) -> Tensor:
    """Corner boxes -> distances from anchor points, clamped to [0, max_dist].

    Args:
        anchor_points: (A, 2) anchor centres.
        boxes_xyxy: (..., A, 4) boxes in the same unit.
        max_dist: upper clamp (``reg_max - 1 - 0.01`` for the DFL targets).

    Returns:
        (..., A, 4) ltrb distances.
    """
    lt = anchor_points - boxes_xyxy[..., :2]
    rb = boxes_xyxy[..., 2:4] - anchor_points
    return torch.cat((lt, rb), dim=-1).clamp(0, max_dist)
