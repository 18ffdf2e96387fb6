"""Box ops against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from yolov9.ops import (
    bbox2dist,
    box_iou,
    box_xywh_to_xyxy,
    box_xyxy_to_xywh,
    complete_box_iou,
    dist2bbox,
    make_anchors,
)


def test_iou_hand_values() -> None:
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 1, 1]])
    b = torch.tensor([[1.0, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]])
    expected = torch.tensor([[1 / 7, 1, 0], [0, 1 / 4, 0]])
    torch.testing.assert_close(box_iou(a, b), expected)


def test_ciou_hand_values() -> None:
    a = torch.tensor([0.0, 0, 2, 2])
    b = torch.tensor([1.0, 1, 3, 3])
    # IoU 1/7; centre distance² 2, enclosing diagonal² 18; same aspect ratio -> v = 0
    assert complete_box_iou(a, b).item() == pytest.approx(1 / 7 - 2 / 18, abs=1e-6)
    # different aspect ratios: a 2x2 square inside a 4x2 box with the same centre
    c = torch.tensor([-1.0, 0, 3, 2])
    iou = 4 / 8
    v = 4 / math.pi**2 * (math.atan(2) - math.atan(1)) ** 2
    alpha = v / (v - iou + 1)
    assert complete_box_iou(a, c).item() == pytest.approx(iou - alpha * v, abs=1e-6)
    assert complete_box_iou(a, a).item() == pytest.approx(1.0, abs=1e-6)


def test_ciou_is_symmetric_and_broadcasts() -> None:
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(5, 1, 2, generator=g) * 10
    a = torch.cat((xy, xy + torch.rand(5, 1, 2, generator=g) * 5 + 0.1), -1)
    b = a.transpose(0, 1) + 0.3
    out = complete_box_iou(a, b)
    assert out.shape == (5, 5)
    torch.testing.assert_close(out, complete_box_iou(b, a))


def test_format_round_trips() -> None:
    boxes = torch.tensor([[10.0, 20, 50, 80], [0, 0, 1, 1]])
    xywh = box_xyxy_to_xywh(boxes)
    torch.testing.assert_close(xywh[0], torch.tensor([30.0, 50, 40, 60]))
    torch.testing.assert_close(box_xywh_to_xyxy(xywh), boxes)


def test_dist2bbox_and_bbox2dist_are_inverse() -> None:
    points = torch.tensor([[5.5, 5.5], [2.5, 7.5]])
    dist = torch.tensor([[[1.0, 2, 3, 4], [0.5, 0.25, 1, 2]]])
    boxes = dist2bbox(dist, points)
    torch.testing.assert_close(boxes[0, 0], torch.tensor([4.5, 3.5, 8.5, 9.5]))
    torch.testing.assert_close(bbox2dist(points, boxes, 15.0), dist)
    assert bbox2dist(points, boxes * 10, 14.99).max().item() == pytest.approx(14.99)


def test_anchor_order_is_level_then_row_major() -> None:
    points, strides = make_anchors([(2, 3), (1, 2)], [8, 16])
    assert points.tolist() == [
        [0.5, 0.5],
        [1.5, 0.5],
        [2.5, 0.5],
        [0.5, 1.5],
        [1.5, 1.5],
        [2.5, 1.5],
        [0.5, 0.5],
        [1.5, 0.5],
    ]
    assert strides.flatten().tolist() == [8.0] * 6 + [16.0] * 2
