"""Semantic metrics on a hand-counted case: ignored pixels, absent classes, weights."""

from __future__ import annotations

import math

import numpy as np
import pytest

from yolov9.errors import DataError
from yolov9.metrics.semantic import SemanticConfusion

TRUTH = np.array([[0, 0, 1, 1], [255, 2, 2, 2]], np.uint8)
PRED = np.array([[0, 1, 1, 1], [0, 2, 2, 0]], np.uint8)


def test_hand_counted_case() -> None:
    m = SemanticConfusion(4)  # class 3 appears nowhere: no IoU, not averaged
    m.update(PRED, TRUTH)
    iou = m.iou()
    assert iou[:3] == pytest.approx([1 / 3, 2 / 3, 2 / 3])
    assert math.isnan(iou[3])
    r = m.results(stuff=[2, 3])
    assert r["mIoU"] == pytest.approx(5 / 9)
    assert r["FWIoU"] == pytest.approx(4 / 7)  # (2 x 1/3 + 2 x 2/3 + 3 x 2/3) / 7
    assert r["pixel_acc"] == pytest.approx(5 / 7)
    assert r["stuff_mIoU"] == pytest.approx(2 / 3)


def test_images_accumulate_before_the_ratio() -> None:
    m = SemanticConfusion(2)
    m.update(np.array([[0, 0]]), np.array([[0, 1]]))  # class 1: 0 of 1
    m.update(np.array([[1, 1, 1]]), np.array([[1, 1, 1]]))  # class 1: 3 of 3
    assert m.iou()[1] == pytest.approx(3 / 4)  # not the mean of 0 and 1


def test_bad_maps_are_refused_in_one_line() -> None:
    m = SemanticConfusion(3)
    with pytest.raises(DataError, match=r"a\.png: prediction"):
        m.update(np.zeros((2, 2)), np.zeros((2, 3)), where="a.png")
    with pytest.raises(DataError, match=r"ground truth class 7 outside 0\.\.2"):
        m.update(np.zeros((1, 2), np.uint8), np.array([[7, 255]], np.uint8))


def test_classes_restrict_the_averages_but_not_the_errors() -> None:
    # class 2 is "none of the dataset's": predicted on one pixel of class 0, never true
    conf = SemanticConfusion(3)
    conf.update(np.array([[0, 2, 1, 1]]), np.array([[0, 0, 1, 1]]))
    all_classes = conf.results()
    assert all_classes["mIoU"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    two = conf.results(classes=[0, 1])
    assert two["mIoU"] == pytest.approx((0.5 + 1.0) / 2)  # class 0 still lost a pixel
    assert two["pixel_acc"] == pytest.approx(3 / 4)
