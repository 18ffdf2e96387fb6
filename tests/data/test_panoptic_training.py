"""Panoptic training samples: the semantic target stays on the image through every
augmentation, for each format (COCO panoptic PNGs and label maps, warped by nearest neighbour;
the authors' stuff polygons, moved as polygons), padding is void, and MixUp keeps both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from yolov9.data.augment import AugmentConfig
from yolov9.data.panoptic_training import PanopticTraining, panoptic_training_split, semantic_sample
from yolov9.data.synthetic_world import COLOURS, NAMES, STUFF, THINGS, write_world
from yolov9.data.train_dataset import TrainDataset, collate_train
from yolov9.data.transforms import VOID, Labels, mixup

PALETTE = np.array([COLOURS[n] for n in NAMES], np.int64)
STILL = {"hsv_h": 0.0, "hsv_s": 0.0, "hsv_v": 0.0, "mixup": 0.0, "fliplr": 0.0}
TRANSFORMS = {  # one augmentation at a time (the letterbox comes with every non-mosaic one)
    "letterbox": {"mosaic": 0.0, "scale": 0.0, "translate": 0.0, "copy_paste": 0.0},
    "affine": {"mosaic": 0.0, "degrees": 30.0, "shear": 10.0, "scale": 0.5, "translate": 0.2},
    "perspective": {"mosaic": 0.0, "perspective": 0.0008, "scale": 0.3},
    "flips": {"mosaic": 0.0, "scale": 0.0, "translate": 0.0, "fliplr": 1.0, "flipud": 1.0},
    "mosaic": {"mosaic": 1.0, "copy_paste": 0.0},
    "copy_paste": {"mosaic": 1.0, "copy_paste": 1.0},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PanopticTraining]:
    """4 flat-coloured scenes (96 x 128: letterboxed with padding) in the three formats."""
    yamls = write_world(tmp_path_factory.mktemp("world"), {"train": 4}, (96, 128), flat=True)
    splits = {kind: panoptic_training_split(path, "train") for kind, path in yamls.items()}
    return {kind: split for kind, split in splits.items() if split is not None}


def _cells(image: np.ndarray, ratio: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per target cell: the category whose colour all of the cell's 2 x 2 centre pixels have
    (-1: none, e.g. an edge), and whether they are all letterbox grey."""
    s = image.shape[0] // ratio
    centre = np.stack(
        [image[1 + dy :: ratio, 1 + dx :: ratio][:s, :s] for dy in (0, 1) for dx in (0, 1)]
    ).astype(np.int64)  # (4, s, s, 3)
    distance = np.abs(centre[..., None, :] - PALETTE).max(-1)  # (4, s, s, K)
    best = distance.argmin(-1)
    pure = (distance.min(-1) <= 2).all(0) & (best == best[0]).all(0)
    grey = (centre == 114).all((0, -1))
    return np.where(pure, best[0], -1), grey, pure


@pytest.mark.parametrize("kind", ["coco-panoptic", "authors", "semantic"])
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_the_semantic_target_stays_on_the_image(
    world: dict[str, PanopticTraining], kind: str, transform: str
) -> None:
    split = world[kind]
    spec = AugmentConfig(**{**STILL, **TRANSFORMS[transform]})
    masks = not split.semantic_only
    data = TrainDataset(split.dataset.records, 128, spec, masks=masks, semantic=split.source)
    checked = agree = padding = void = 0
    for index in range(len(data)):
        sample = data[index]
        assert sample.semantic is not None
        assert sample.ignore is not None
        target, ignore = sample.semantic.numpy(), sample.ignore.numpy()
        assert target.shape == (len(NAMES), 32, 32)
        category, grey, pure = _cells(sample.image.numpy())
        ys, xs = np.nonzero(pure)
        hit = target[category[ys, xs], ys, xs] == 1
        if kind != "authors":  # label maps: exactly one channel, the pixel's
            hit &= target[:, ys, xs].sum(0) == 1
        hit &= ~ignore[ys, xs]
        checked, agree = checked + len(ys), agree + int(hit.sum())
        padding, void = padding + int(grey.sum()), void + int(ignore[grey].sum())
    assert checked > 500
    # label maps move exactly with the image; polygons are redrawn after the warp, so a cell
    # at a region's edge may fall on the other side of it
    exact = 0.99 if kind == "authors" else 1.0
    assert agree / checked >= exact, (agree, checked)
    assert void >= exact * padding, (void, padding)  # the padding is void
    if transform in ("letterbox", "flips"):
        assert padding > 0


def test_mixup_keeps_both_label_maps_and_voids_what_both_leave_void() -> None:
    rng = np.random.default_rng(0)
    first_map = np.full((8, 8), 3, np.uint16)
    first_map[:, :4] = VOID  # the left cells
    second_map = np.full((8, 8), 5, np.uint16)
    second_map[:4] = VOID  # the top cells
    image = np.zeros((8, 8, 3), np.uint8)
    first = Labels(np.zeros((0, 4)), np.zeros(0), [], semantic=[first_map])
    second = Labels(np.zeros((0, 4)), np.zeros(0), [], semantic=[second_map])
    _, mixed = mixup((image, first), (image, second), rng)
    target, ignore = semantic_sample(mixed, 8, 4, 8)
    assert target[3][:, 1].all()
    assert not target[3][:, 0].any()
    assert target[5][1].all()
    assert not target[5][0].any()
    assert target.sum(0).max() == 2
    # void only where both are: the top-left cell; one map's label is kept elsewhere
    assert ignore.tolist() == [[True, False], [False, False]]


def test_a_batch_carries_the_semantic_target_and_ignore_map(
    world: dict[str, PanopticTraining],
) -> None:
    split = world["coco-panoptic"]
    assert split.dataset.names == list(THINGS)
    assert split.stuff_names == list(STUFF)
    data = TrainDataset(split.dataset.records, 64, masks=True, semantic=split.source)
    batch = collate_train([data[0], data[1]])
    assert batch.semantic is not None
    assert batch.ignore is not None
    assert batch.semantic.shape == (2, len(NAMES), 16, 16)
    assert batch.ignore.shape == (2, 16, 16)
    assert batch.masks is not None
    assert len(batch.masks) == len(batch.targets)
    # the targets hold the things only, never a stuff region
    assert (batch.targets[:, 1] < len(THINGS)).all()


def test_polygon_stuff_is_never_a_box_target(world: dict[str, PanopticTraining]) -> None:
    split = world["authors"]
    data = TrainDataset(split.dataset.records, 128, semantic=split.source, masks=True)
    for index in range(len(data)):
        sample = data[index]
        assert sample.masks is not None
        assert len(sample.targets) == len(sample.masks)
        assert (sample.targets[:, 0] < len(THINGS)).all()


def test_world_formats_agree(world: dict[str, PanopticTraining], tmp_path: Path) -> None:
    """The three formats give the same things and the same semantic classes per pixel."""
    coco, authors = world["coco-panoptic"], world["authors"]
    for a, b in zip(coco.dataset.records, authors.dataset.records, strict=True):
        assert sorted(a.classes.tolist()) == sorted(b.classes.tolist())
    maps = world["semantic"].source
    for index in range(len(coco.dataset)):
        from_png = coco.source.label_map(index)
        from_map = maps.label_map(index)
        assert from_png is not None
        assert from_map is not None
        assert (from_png == from_map).mean() > 0.995


def test_coco_panoptic_things_are_read_once_then_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yolov9.data.panoptic import PanopticSet

    data = write_world(tmp_path, {"train": 3}, (64, 96))["coco-panoptic"]
    first = panoptic_training_split(data, "train")
    reads = []
    monkeypatch.setattr(PanopticSet, "read_ids", lambda self, image: reads.append(image))
    again = panoptic_training_split(data, "train")
    assert first is not None
    assert again is not None
    assert not reads  # no PNG decoded: the things came from the cache
    for a, b in zip(first.dataset.records, again.dataset.records, strict=True):
        assert (a.path, a.width, a.height, a.image_id) == (b.path, b.width, b.height, b.image_id)
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.classes, b.classes)
        assert a.segmentations == b.segmentations


def test_pasted_objects_hide_the_stuff_polygons_under_them() -> None:
    """Copy-paste (polygons): the pasted object's cells carry its class, not the stuff it
    covers, as the image shows."""
    sky = np.array([[0, 0], [32, 0], [32, 32], [0, 32]], np.float32)
    disc = np.array([[8, 8], [24, 8], [24, 24], [8, 24]], np.float32)
    labels = Labels(
        np.array([[0, 0, 32, 32], [8, 8, 24, 24]]),
        np.array([3, 0]),
        [sky, disc],
        layer=np.array([0, 1]),
        stuff=np.array([True, False]),
    )
    target, ignore = semantic_sample(labels, 32, 4, 8)
    assert target[0, 3:5, 3:5].all()
    assert not target[3, 3:5, 3:5].any()  # hidden under the pasted disc
    assert target[3, 0, 0]
    assert not ignore.any()


def test_a_broken_label_map_is_replaced_and_reported(tmp_path: Path) -> None:
    yamls = write_world(tmp_path, {"train": 3}, (64, 96))
    (tmp_path / "semantic" / "train" / "train_00001.png").write_bytes(b"not a png")
    split = panoptic_training_split(yamls["semantic"], "train")
    assert split is not None
    spec = AugmentConfig(mosaic=0.0)
    data = TrainDataset(split.dataset.records, 64, spec, masks=True, semantic=split.source)
    sample = data[1]
    assert sample.semantic is not None
    assert any("train_00001.png" in p and "label map" in p for p in sample.problems)
