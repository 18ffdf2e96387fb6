"""NMS equals the textbook greedy algorithm exactly."""

from __future__ import annotations

import pytest
import torch

from yolov9.ops import batched_nms, box_iou, nms, non_max_suppression


def greedy_reference(boxes: torch.Tensor, scores: torch.Tensor, thr: float) -> list[int]:
    order = scores.argsort(descending=True, stable=True).tolist()
    iou = box_iou(boxes, boxes)
    keep: list[int] = []
    for i in order:  # one box at a time, against everything kept so far
        if not keep or bool((iou[i, keep] <= thr).all()):
            keep.append(i)
    return keep


def random_boxes(n: int, seed: int, spread: float = 100.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * spread
    wh = torch.rand(n, 2, generator=g) * 30 + 1
    return torch.cat((xy, xy + wh), 1), torch.rand(n, generator=g)


@pytest.mark.parametrize(
    ("n", "thr", "seed"),
    [(0, 0.5, 0), (1, 0.5, 0), (50, 0.5, 1), (300, 0.3, 2), (700, 0.7, 3), (1200, 0.45, 4)],
)
def test_nms_matches_greedy_reference(n: int, thr: float, seed: int) -> None:
    boxes, scores = random_boxes(n, seed)
    assert nms(boxes, scores, thr).tolist() == greedy_reference(boxes, scores, thr)


def test_nms_chains_across_tiles() -> None:
    # a long chain of overlapping boxes in score order: keep every second one
    x = torch.arange(1200, dtype=torch.float32) * 6
    boxes = torch.stack((x, torch.zeros_like(x), x + 10, torch.full_like(x, 10)), 1)
    scores = torch.linspace(1, 0, 1200)
    assert nms(boxes, scores, 0.2).tolist() == greedy_reference(boxes, scores, 0.2)


def test_max_keep_returns_the_first_kept() -> None:
    boxes, scores = random_boxes(800, 5)
    full = nms(boxes, scores, 0.5)
    assert nms(boxes, scores, 0.5, max_keep=37).tolist() == full[:37].tolist()


def test_batched_nms_is_class_aware() -> None:
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    labels = torch.tensor([0, 0, 1])
    assert batched_nms(boxes, scores, labels, 0.5).tolist() == [0, 2]


def test_non_max_suppression_filters_and_limits() -> None:
    boxes = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]]])
    scores = torch.tensor([[[0.9, 0.6], [0.1, 0.2], [0.3, 0.05]]])
    single = non_max_suppression(boxes, scores, conf_threshold=0.25, iou_threshold=0.5)[0]
    assert single.labels.tolist() == [0, 0]
    assert single.scores.tolist() == pytest.approx([0.9, 0.3])
    multi = non_max_suppression(
        boxes, scores, conf_threshold=0.15, iou_threshold=0.5, multi_label=True
    )[0]
    pairs = sorted(zip(multi.labels.tolist(), multi.scores.tolist(), strict=True))
    assert [p[0] for p in pairs] == [0, 0, 1]
    assert [p[1] for p in pairs] == pytest.approx([0.3, 0.9, 0.6])
    capped = non_max_suppression(boxes, scores, conf_threshold=0.15, max_det=1, multi_label=True)
    assert len(capped[0]) == 1
    only1 = non_max_suppression(boxes, scores, conf_threshold=0.15, multi_label=True, classes=[1])
    assert only1[0].labels.tolist() == [1]
    empty = non_max_suppression(boxes, scores, conf_threshold=0.95)[0]
    assert len(empty) == 0
    assert empty.boxes.shape == (0, 4)


def test_max_candidates_truncation_is_counted_and_reported() -> None:
    """max_candidates drops the lowest-scoring candidates before NMS: said, with numbers."""
    import logging

    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("yolov9.ops.nms")
    handler = Collect()
    logger.addHandler(handler)
    try:
        boxes = torch.rand(2, 50, 2).repeat(1, 1, 2) * 100
        boxes[..., 2:] += 5
        scores = torch.rand(2, 50, 3) * 0.5 + 0.5
        out = non_max_suppression(boxes, scores, multi_label=True, max_candidates=40)
    finally:
        logger.removeHandler(handler)
    assert len(out) == 2
    assert messages == [
        "NMS: 2 of 2 images had more than 40 candidates above conf 0.25; 220 dropped "
        "before NMS (max_candidates)"
    ]
