"""Panoptic fusion: the authors' rule, pinned on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from yolov9.tasks.base import FusionOptions
from yolov9.tasks.panoptic import PanopticLabels, PanopticSegmentation, fuse
from yolov9.tasks.panoptic.labels import VOID
from yolov9.tasks.segment.masks import InstanceMasks

# two things (0 cat, 1 dog), two stuff channels (2 sky, 3 grass)
LABELS = PanopticLabels.for_model(["cat", "dog"], ["sky", "grass"])


def _masks(*rects: tuple[int, int, int, int], shape: tuple[int, int] = (8, 8)) -> InstanceMasks:
    dense = np.zeros((len(rects), *shape), bool)
    for i, (y1, x1, y2, x2) in enumerate(rects):
        dense[i, y1:y2, x1:x2] = True
    return InstanceMasks.from_dense(dense)


def _semantic() -> np.ndarray:
    sem = np.full((8, 8), 3, np.uint8)  # grass below
    sem[:3] = 2  # sky on top
    sem[5:, 6:] = 0  # a cat-argmax patch that no instance covers
    return sem


def test_earlier_instances_win_and_stuff_fills_the_rest() -> None:
    masks = _masks((2, 0, 6, 4), (3, 2, 7, 6))  # overlap rows 3-5, cols 2-3
    pan = fuse(masks, np.array([0.9, 0.8]), np.array([0, 1]), _semantic(), LABELS)
    cats = pan.category_map()
    assert [(s.category, s.isthing, s.detection) for s in pan.segments[:2]] == [
        (0, True, 0),
        (1, True, 1),
    ]
    # the first (higher-scoring) instance keeps the overlap
    assert (cats[2:6, 0:4] == 0).all()
    assert pan.segments[1].area == 16 - 6  # the dog's 4x4 minus the 3x2 the cat took
    # stuff only where no instance is; thing-argmax pixels without an instance are void
    assert (cats[0:2] == 2).all()
    assert (cats[7, 0:6] == 3).all()
    assert (cats[5:, 6:] == VOID).all()
    assert pan.ids[5, 7] == 0
    stuff = [s for s in pan.segments if not s.isthing]
    assert [s.category for s in stuff] == [2, 3]  # one segment per stuff class
    assert sum(s.area for s in pan.segments) == int((pan.ids > 0).sum())
    assert (pan.ids > 0).sum() == 64 - 6  # the 3x2 cat-argmax patch is the only void


def test_walk_stops_at_the_first_score_below_the_threshold() -> None:
    masks = _masks((0, 0, 2, 2), (4, 4, 6, 6), (0, 6, 2, 8))
    scores = np.array([0.5, 0.25, 0.2499])
    pan = fuse(masks, scores, np.array([0, 1, 0]), _semantic(), LABELS)
    things = [s for s in pan.segments if s.isthing]
    assert [s.detection for s in things] == [0, 1]  # 0.25 is kept, below it is not
    higher = fuse(masks, scores, np.array([0, 1, 0]), _semantic(), LABELS, FusionOptions(0.3))
    assert [s.detection for s in higher.segments if s.isthing] == [0]


def test_instances_left_without_pixels_are_dropped() -> None:
    masks = _masks((0, 0, 4, 4), (1, 1, 3, 3))  # the second lies inside the first
    pan = fuse(masks, np.array([0.9, 0.8]), np.array([0, 1]), _semantic(), LABELS)
    assert [s.detection for s in pan.segments if s.isthing] == [0]
    assert len({s.id for s in pan.segments}) == len(pan.segments)


def test_options_filter_small_stuff_and_mostly_covered_instances() -> None:
    masks = _masks((0, 0, 4, 4), (2, 2, 5, 5))  # the second keeps 5 of its 9 pixels
    sem = _semantic()
    base = fuse(masks, np.array([0.9, 0.8]), np.array([0, 1]), sem, LABELS)
    assert len([s for s in base.segments if s.isthing]) == 2
    opts = FusionOptions(min_kept_fraction=0.6, min_stuff_area=30)
    pan = fuse(masks, np.array([0.9, 0.8]), np.array([0, 1]), sem, LABELS, opts)
    assert [s.detection for s in pan.segments if s.isthing] == [0]
    # sky keeps 24 - 12 = 12 pixels (< 30): void; grass keeps more
    assert [LABELS.names[s.category] for s in pan.segments if not s.isthing] == ["grass"]
    assert (pan.category_map()[0:2, 4:] == VOID).all()


def test_coco_layout_merges_stuff_and_skips_other_and_unlabeled() -> None:
    labels = PanopticLabels.coco()
    assert len(labels.names) == 133
    assert labels.num_things == 80
    sem = np.zeros((4, 4), np.uint8)
    sem[0] = 80 + 2  # branch -> tree-merged
    sem[1] = 80 + 77  # tree -> tree-merged
    sem[2] = 171  # other: void
    sem[3] = 172  # unlabeled: void
    pan = fuse(InstanceMasks.empty((4, 4)), np.zeros(0), np.zeros(0, np.int64), sem, labels)
    assert len(pan.segments) == 1
    (record,) = pan.records()
    assert record["category_name"] == "tree-merged"
    assert record["category_id"] == 184
    assert record["area"] == 8
    assert record["bbox"] == [0, 0, 4, 2]


def test_rgb_encodes_ids_as_coco_panoptic_does() -> None:
    masks = _masks((0, 0, 2, 2))
    pan = fuse(masks, np.array([0.9]), np.array([1]), _semantic(), LABELS)
    rgb = pan.rgb().astype(np.int64)
    assert (rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2] == pan.ids).all()


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="semantic map"):
        fuse(_masks((0, 0, 2, 2), shape=(4, 4)), np.ones(1), np.zeros(1), _semantic(), LABELS)
    sem = np.full((8, 8), 7, np.uint8)
    with pytest.raises(ValueError, match="channel 7"):
        fuse(InstanceMasks.empty((8, 8)), np.zeros(0), np.zeros(0), sem, LABELS)


def test_rgb_encodes_ids_beyond_one_byte() -> None:
    ids = np.array([[0, 255, 256], [65_535, 65_536, 70_000]], np.uint32)
    pan = PanopticSegmentation(ids, [], LABELS)
    rgb = pan.rgb().astype(np.int64)
    assert (rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2] == ids).all()
    assert rgb[1, 2].tolist() == [70_000 % 256, (70_000 // 256) % 256, 1]


def test_instances_are_walked_by_score_whatever_their_order() -> None:
    masks = _masks((0, 0, 4, 4), (2, 2, 6, 6))
    pan = fuse(masks, np.array([0.3, 0.9]), np.array([0, 1]), _semantic(), LABELS)
    first, second = (s for s in pan.segments if s.isthing)
    assert (first.detection, second.detection) == (1, 0)
    assert first.area == 16  # the higher score keeps the overlap
