"""PQ / SQ / RQ: hand-made cases for each rule of the definition, and the COCO panoptic API's
own figures on the fixture set (../shared/parity/pan/pq)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolov9.errors import DataError
from yolov9.metrics.panoptic import evaluate_panoptic, image_counts, rgb_to_id, summarize

CATEGORIES = {1: {"isthing": 1}, 2: {"isthing": 1}, 50: {"isthing": 0}}


def _box(shape: tuple[int, int], y: slice, x: slice, value: int, into: np.ndarray | None = None):
    ids = np.zeros(shape, np.int64) if into is None else into
    ids[y, x] = value
    return ids


def test_rgb_ids() -> None:
    rgb = np.array([[[1, 2, 3], [0, 0, 0]]], np.uint8)
    assert rgb_to_id(rgb).tolist() == [[1 + 2 * 256 + 3 * 65536, 0]]


def test_a_match_counts_its_iou_and_void_leaves_the_union() -> None:
    gt = _box((10, 10), slice(0, 4), slice(0, 10), 7)  # 40 px, category 1
    pred = _box((10, 10), slice(0, 4), slice(0, 10), 3)  # the same 40 px ...
    pred[4:6, :] = 3  # ... and 20 px more on void: not in the union
    counts = image_counts(
        gt, [{"id": 7, "category_id": 1, "area": 40}], pred, [{"id": 3, "category_id": 1}]
    )
    assert (counts[1].tp, counts[1].fp, counts[1].fn) == (1, 0, 0)
    assert counts[1].iou_sum == pytest.approx(1.0)
    m = summarize(counts, CATEGORIES)
    assert m.groups["All"] == {"pq": 1.0, "sq": 1.0, "rq": 1.0, "n": 1.0}
    assert m.groups["Stuff"]["n"] == 0


def test_iou_at_one_half_is_no_match_and_a_wrong_class_never_matches() -> None:
    gt = _box((10, 10), slice(0, 10), slice(0, 4), 1)  # 40 px of category 1
    gt = _box((10, 10), slice(0, 10), slice(4, 10), 2, gt)  # 60 px of category 50
    pred = _box((10, 10), slice(0, 10), slice(2, 6), 5)  # half of gt 1 (IoU 20/60)
    pred = _box((10, 10), slice(0, 10), slice(6, 10), 6, pred)  # 40 of gt 2's 60 (IoU 2/3)
    gt_segments = [
        {"id": 1, "category_id": 1, "area": 40},
        {"id": 2, "category_id": 50, "area": 60},
    ]
    counts = image_counts(
        gt, gt_segments, pred, [{"id": 5, "category_id": 1}, {"id": 6, "category_id": 2}]
    )
    assert (counts[1].tp, counts[1].fp, counts[1].fn) == (0, 1, 1)
    assert (counts[2].tp, counts[2].fp) == (0, 1)  # right pixels, wrong category
    assert (counts[50].tp, counts[50].fn) == (0, 1)
    m = summarize(counts, CATEGORIES)
    assert m.PQ == 0.0
    assert m.groups["All"]["n"] == 3


def test_crowd_is_no_miss_and_predictions_on_it_or_on_void_are_no_false_positive() -> None:
    gt = _box((10, 10), slice(0, 5), slice(0, 10), 9)  # a crowd region of category 1
    pred = _box((10, 10), slice(0, 3), slice(0, 10), 4)  # 30 px on the crowd, same category
    pred = _box((10, 10), slice(6, 10), slice(0, 10), 8, pred)  # 40 px on void
    counts = image_counts(
        gt,
        [{"id": 9, "category_id": 1, "area": 50, "iscrowd": 1}],
        pred,
        [{"id": 4, "category_id": 1}, {"id": 8, "category_id": 2}],
    )
    assert all(c.tp + c.fp + c.fn == 0 for c in counts.values())


def test_png_and_json_must_agree() -> None:
    gt = np.zeros((4, 4), np.int64)
    pred = _box((4, 4), slice(0, 2), slice(0, 2), 3)
    with pytest.raises(DataError, match="segment id 3 is in the PNG but not in the JSON"):
        image_counts(gt, [], pred, [], where="p.png")
    with pytest.raises(DataError, match=r"segment ids \[5\] are in the JSON but not in the PNG"):
        image_counts(gt, [], pred, [{"id": 3, "category_id": 1}, {"id": 5, "category_id": 1}])


def test_files_round_trip(tmp_path: Path) -> None:
    gt = _box((8, 8), slice(0, 8), slice(0, 4), 1 + 256)  # id 257: R 1, G 1
    for name, ids in (("gt", gt), ("pred", gt)):
        (tmp_path / name).mkdir()
        rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
        cv2.imwrite(str(tmp_path / name / "a.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    segments = [{"id": 257, "category_id": 1, "area": 32, "iscrowd": 0}]
    ann = {"image_id": 1, "file_name": "a.png", "segments_info": segments}
    cats = [{"id": 1, "isthing": 1, "name": "a"}]
    (tmp_path / "gt.json").write_text(json.dumps({"annotations": [ann], "categories": cats}))
    (tmp_path / "pred.json").write_text(json.dumps({"annotations": [ann]}))
    assert evaluate_panoptic(tmp_path / "gt.json", tmp_path / "pred.json").PQ == 1.0
    (tmp_path / "pred.json").write_text(json.dumps({"annotations": []}))
    with pytest.raises(DataError, match="no prediction for image 1"):
        evaluate_panoptic(tmp_path / "gt.json", tmp_path / "pred.json")


def test_the_coco_panoptic_api_figures(shared: Path) -> None:
    root = shared / "parity" / "pan" / "pq"
    m = evaluate_panoptic(root / "gt.json", root / "pred.json")
    expected = json.loads((root / "expected.json").read_text())["sets"]["pred"]
    for group in ("All", "Things", "Stuff"):
        for key in ("pq", "sq", "rq", "n"):
            assert m.groups[group][key] == pytest.approx(expected[group][key], abs=1e-9)
    for cid, want in expected["per_class"].items():
        for key, value in want.items():
            assert m.per_class[int(cid)][key] == pytest.approx(value, abs=1e-9)
    for cid, want in expected["per_class_counts"].items():
        got = m.counts.get(int(cid))
        got_tuple = (got.tp, got.fp, got.fn) if got else (0, 0, 0)
        assert got_tuple == (want["tp"], want["fp"], want["fn"])
        assert (got.iou_sum if got else 0.0) == pytest.approx(want["iou_sum"], abs=1e-9)
    gt_self = evaluate_panoptic(root / "gt.json", root / "gt.json", pred_dir=root / "gt")
    assert gt_self.groups["All"]["pq"] == pytest.approx(1.0)
