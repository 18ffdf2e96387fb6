"""Detections kept in arrays (CocoResults) and scored a few categories per COCOeval pass give
the very numbers of one faster-coco-eval pass over one dict per detection (issue 13)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
from faster_coco_eval import COCO, COCOeval_faster

from tests.data.seg_scenes import write_seg_dataset
from tests.metrics.test_coco_segm import _dense_predictions
from yolov9.data.coco80 import COCO80_NAMES, COCO80_TO_91
from yolov9.data.dataset import DetectionDataset, load_dataset
from yolov9.data.labels import ImageLabels, LabelReport
from yolov9.errors import DataError
from yolov9.metrics import coco
from yolov9.metrics.coco import (
    CocoResults,
    coco_ground_truth,
    evaluate_coco,
    to_coco_arrays,
    to_coco_results,
)

KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def _generated(images: int = 30, dets: int = 100, seed: int = 0) -> tuple[DetectionDataset, list]:
    """COCO-like ground truth over 80 categories and, per image, ``dets`` detections: jittered
    ground truth, wrong classes and clutter (score ties included: scores on a 0.01 grid)."""
    rng = np.random.default_rng(seed)
    records, per_image = [], []
    for i in range(images):
        w, h = (640, 480) if i % 3 else (480, 640)
        n = int(rng.integers(0, 12))
        xy = rng.uniform(0, [w - 20, h - 20], (n, 2))
        wh = rng.uniform(0.5, 1.5, (n, 2)) * rng.lognormal(3.5, 0.9, (n, 1))
        boxes = np.concatenate([xy, np.minimum(xy + wh, [w, h])], 1).astype(np.float32)
        classes = rng.integers(0, 80, n)
        records.append(ImageLabels(f"{i}.jpg", w, h, boxes, classes, 1000 + 7 * i))
        src = rng.integers(0, max(n, 1), dets)
        pb = (boxes[src] if n else np.zeros((dets, 4))) + rng.normal(0, 5, (dets, 4))
        clutter = rng.random(dets) < 0.6
        pb[clutter, :2] = rng.uniform(0, [w, h], (clutter.sum(), 2))
        pb[clutter, 2:] = pb[clutter, :2] + rng.uniform(5, 200, (clutter.sum(), 2))
        pb = np.clip(pb, 0, [w, h, w, h]).astype(np.float32)
        pb[:, 2:] = np.maximum(pb[:, 2:], pb[:, :2] + 1)
        pc = np.where(clutter, rng.integers(0, 80, dets), classes[src] if n else 0)
        scores = np.round(rng.random(dets), 2).astype(np.float32)
        per_image.append((pb, scores, pc))
    ds = DetectionDataset(records, COCO80_NAMES, COCO80_TO_91, LabelReport(), "coco", "val")
    return ds, per_image


def _one_pass(
    gt: dict, entries: list, iou_type: str = "bbox", image_ids: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The path before issue 13: every result dict in one faster-coco-eval pass."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(copy.deepcopy(gt))
        ev = COCOeval_faster(coco_gt, coco_gt.loadRes(copy.deepcopy(entries)), iou_type)
        if image_ids is not None:
            ev.params.imgIds = image_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:12]), np.asarray(ev.eval["precision"])


def _stats(m: coco.CocoMetrics) -> np.ndarray:
    return np.array([getattr(m, k) for k in KEYS])


def _arrays(ds: DetectionDataset, per_image: list, masks: bool = False) -> CocoResults:
    return CocoResults.concat(
        [
            to_coco_arrays(r.image_id, *dets[:3], ds.category_ids, dets[3] if masks else None)
            for r, dets in zip(ds.records, per_image, strict=True)
        ]
    )


def test_arrays_in_passes_equal_one_pass_over_dicts() -> None:
    ds, per_image = _generated()
    gt = coco_ground_truth(ds)
    arrays = _arrays(ds, per_image)
    entries = arrays.entries()
    assert entries == [
        e
        for r, (b, s, c) in zip(ds.records, per_image, strict=True)
        for e in to_coco_results(r.image_id, b, s, c, ds.category_ids)
    ]
    limit = 300  # of 3000 detections: ~10 passes
    passes = coco._category_passes(sorted(ds.category_ids), arrays.category_id, limit)
    assert len(passes) >= 8
    assert sorted(c for p in passes for c in p) == sorted(ds.category_ids)

    want_stats, want_precision = _one_pass(gt, entries)
    assert 0.02 < want_stats[0] < 0.9
    for results in (arrays, entries):
        for pass_detections in (limit, 1, 10**9):
            m = evaluate_coco(gt, results, pass_detections=pass_detections)
            np.testing.assert_array_equal(_stats(m), want_stats)  # bit-identical
            np.testing.assert_array_equal(m.precision, want_precision)

    some = [r.image_id for r in ds.records[::3]]
    want_stats, want_precision = _one_pass(gt, entries, image_ids=some)
    m = evaluate_coco(gt, arrays, image_ids=some, pass_detections=limit)
    np.testing.assert_array_equal(_stats(m), want_stats)
    np.testing.assert_array_equal(m.precision, want_precision)


def test_given_dicts_are_left_as_they_were() -> None:
    ds, per_image = _generated(images=4, dets=20)
    entries = _arrays(ds, per_image).entries()
    before = copy.deepcopy(entries)
    evaluate_coco(coco_ground_truth(ds), entries, pass_detections=10)
    assert entries == before  # COCO's loadRes adds keys to the dicts it gets: copies


def test_arrays_refuse_unknown_images_and_categories() -> None:
    ds, per_image = _generated(images=3, dets=5)
    gt = coco_ground_truth(ds)
    arrays = _arrays(ds, per_image)
    bad_image = CocoResults.concat([arrays, to_coco_arrays(5, np.ones((1, 4)), [0.5], [0], [1])])
    with pytest.raises(DataError, match=r"image id\(s\) not in the dataset, e.g. \[5\]"):
        evaluate_coco(gt, bad_image)
    bad_cat = to_coco_arrays(ds.records[0].image_id, np.ones((1, 4)), [0.5], [0], [12])
    with pytest.raises(DataError, match=r"unknown category id\(s\) \[12\]"):
        evaluate_coco(gt, bad_cat)


def test_columns_concat_take_and_entries() -> None:
    a = to_coco_arrays(3, np.array([[1.0, 2.0, 4.0, 8.0]], np.float32), [0.123456], [1], [5, 9])
    b = to_coco_arrays(4, np.zeros((0, 4), np.float32), [], [], [5, 9])
    both = CocoResults.concat([a, b, a])
    assert len(both) == 2
    assert len(CocoResults.concat([])) == 0
    entry = {"image_id": 3, "category_id": 9, "bbox": [1.0, 2.0, 3.0, 6.0], "score": 0.12346}
    assert both.entries() == [entry, entry]
    assert json.loads(json.dumps(both.take(np.array([1])).entries())) == [entry]
    assert type(both.entries()[0]["image_id"]) is int
    masked = to_coco_arrays(3, np.ones((1, 4)), [1], [0], [5], [np.ones((2, 2))])
    assert masked.segmentation == [{"size": [2, 2], "counts": "04"}]
    with pytest.raises(ValueError, match="masks and results without"):
        CocoResults.concat([a, masked])
    with pytest.raises(ValueError, match="columns disagree"):
        CocoResults(a.image_id, a.category_id, a.bbox, np.zeros(2))


@pytest.fixture(scope="module")
def seg_rle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_seg_dataset(tmp_path_factory.mktemp("seg"), images=12)["coco_rle"]


def test_mask_arrays_equal_one_pass_over_dicts(seg_rle: Path) -> None:
    """Masks (RLEs) ride along with the arrays: box and mask AP as from one pass of dicts."""
    ds = load_dataset(seg_rle)
    per_image = _dense_predictions(ds, seed=5)
    gt = coco_ground_truth(ds)
    arrays = _arrays(ds, per_image, masks=True)
    entries = [
        e
        for r, (b, s, c, m) in zip(ds.records, per_image, strict=True)
        for e in to_coco_results(r.image_id, b, s, c, ds.category_ids, masks=m)
    ]
    assert arrays.entries() == entries
    for iou_type in ("bbox", "segm"):
        want_stats, want_precision = _one_pass(
            coco._mask_ground_truth(gt) if iou_type == "segm" else gt, entries, iou_type
        )
        assert want_stats[0] > 0.1
        m = evaluate_coco(gt, arrays, iou_type=iou_type, pass_detections=5)
        np.testing.assert_array_equal(_stats(m), want_stats)
        np.testing.assert_array_equal(m.precision, want_precision)
    with pytest.raises(DataError, match="needs image_id, category_id, segmentation, score"):
        evaluate_coco(gt, _arrays(ds, per_image), iou_type="segm")  # boxes only
    wrong_size = [(*d[:3], [{"size": [9, 9], "counts": [81]}] * len(d[0])) for d in per_image]
    with pytest.raises(DataError, match=r"prediction #0: segmentation size \[9, 9\]"):
        evaluate_coco(gt, _arrays(ds, wrong_size, masks=True), iou_type="segm")
