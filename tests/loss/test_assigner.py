"""Assigner golden cases built by hand."""

from __future__ import annotations

import torch

from yolov9.loss.assigner import TaskAlignedAssigner
from yolov9.ops import make_anchors


def _grid() -> tuple[torch.Tensor, torch.Tensor]:
    points, strides = make_anchors([(4, 4)], [8])  # 16 anchors, centres 4, 12, 20, 28 px
    return points * strides, strides


def _run(gt_boxes: list, gt_labels: list, pred_boxes: torch.Tensor | None = None, **kw):
    anchors, _ = _grid()
    a = anchors.shape[0]
    boxes = torch.tensor(gt_boxes, dtype=torch.float32).view(1, -1, 4)
    labels = torch.tensor(gt_labels).view(1, -1, 1)
    mask = torch.ones(1, boxes.shape[1], 1, dtype=torch.bool)
    scores = torch.full((1, a, 2), 0.5)
    if pred_boxes is None:  # every anchor predicts a 16 px box around itself
        pred_boxes = torch.cat((anchors - 8, anchors + 8), 1)[None]
    return TaskAlignedAssigner(2, **kw)(scores, pred_boxes, anchors, labels, boxes, mask)


def test_no_ground_truth() -> None:
    anchors, _ = _grid()
    empty = torch.zeros(1, 0, 4)
    out = TaskAlignedAssigner(2)(
        torch.rand(1, 16, 2),
        torch.rand(1, 16, 4),
        anchors,
        empty[..., :1].long(),
        empty,
        empty[..., :1].bool(),
    )
    assert not out.fg_mask.any()
    assert out.scores.sum() == 0


def test_one_box_takes_its_inside_anchors_only() -> None:
    out = _run([[0, 0, 16, 16]], [1])  # contains the centres (4,4), (12,4), (4,12), (12,12)
    assert out.fg_mask[0].nonzero().flatten().tolist() == [0, 1, 4, 5]
    assert (out.labels[0, out.fg_mask[0]] == 1).all()
    # the best-aligned anchor's soft target equals the box's largest CIoU with a positive
    best = out.scores[0, :, 1].max()
    assert 0 < best <= 1
    assert out.scores[0, ~out.fg_mask[0]].sum() == 0


def test_topk_limits_positives() -> None:
    out = _run([[0, 0, 32, 32]], [0], topk=3)
    assert int(out.fg_mask.sum()) == 3


def test_anchor_in_two_boxes_goes_to_higher_ciou() -> None:
    anchors, _ = _grid()
    pred = torch.cat((anchors - 8, anchors + 8), 1)[None].clone()
    pred[0, 5] = torch.tensor([4.0, 4, 20, 20])  # anchor 5 (12, 12) predicts box A exactly
    out = _run([[4, 4, 20, 20], [8, 8, 30, 30]], [0, 1], pred_boxes=pred)
    assert out.fg_mask[0, 5]
    assert int(out.gt_index[0, 5]) == 0
    assert int(out.labels[0, 5]) == 0


def test_padding_rows_assign_nothing() -> None:
    anchors, _ = _grid()
    boxes = torch.tensor([[[0.0, 0, 16, 16], [0, 0, 0, 0]]])
    labels = torch.tensor([[[1], [0]]])
    mask = torch.tensor([[[True], [False]]])
    pred = torch.cat((anchors - 8, anchors + 8), 1)[None]
    out = TaskAlignedAssigner(2)(torch.full((1, 16, 2), 0.5), pred, anchors, labels, boxes, mask)
    assert (out.gt_index[0, out.fg_mask[0]] == 0).all()
    assert int(out.fg_mask.sum()) == 4
