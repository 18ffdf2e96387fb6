"""Polygons through augmentation: cut exactly to the image, boxes from what is visible, masks
that agree with the boxes and with what pasted objects cover, reproducible per seed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.data.seg_scenes import write_seg_dataset
from yolov9.data.augment import AugmentConfig
from yolov9.data.dataset import load_dataset
from yolov9.data.labels import ImageLabels
from yolov9.data.polygons import clip_polygon, instance_masks, semantic_target
from yolov9.data.train_dataset import TrainDataset, collate_train
from yolov9.data.transforms import Labels, copy_paste, mixup

SUB = 8  # sub-pixel bits of the reference rasteriser used to check the geometry


def _fill(polygon: np.ndarray, w: int, h: int, scale: int = 4) -> np.ndarray:
    """A finely rasterised mask (``scale`` x the image) of a polygon in image pixels."""
    canvas = np.zeros((h * scale, w * scale), np.uint8)
    points = np.round(polygon * scale * (1 << SUB)).astype(np.int32)
    cv2.fillPoly(canvas, [points], 1, lineType=cv2.LINE_8, shift=SUB)
    return canvas


def _mask_box(mask: np.ndarray, scale: int) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64) / scale


def _star(rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    k = int(rng.integers(5, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radii = rng.uniform(0.3 * r, r, k)
    return np.stack((cx + radii * np.cos(angles), cy + radii * np.sin(angles)), 1)


def test_cut_polygon_fills_exactly_what_is_inside_and_its_box_is_the_masks() -> None:
    """Against the polygon rasterised finely on a canvas larger than the image and cropped:
    the cut polygon covers the same pixels; its box is the box of its training mask (the
    reference rasteriser, full resolution) within a pixel."""
    rng = np.random.default_rng(0)
    w, h, scale, margin = 64, 48, 8, 64
    checked = 0
    for _ in range(200):
        poly = _star(rng, rng.uniform(-20, w + 20), rng.uniform(-20, h + 20), rng.uniform(5, 40))
        big = _fill(poly + margin, w + 2 * margin, h + 2 * margin, scale)
        m = margin * scale
        visible = big[m : m + h * scale, m : m + w * scale]
        clipped, box = clip_polygon(poly, w, h)
        assert (clipped[:, 0] >= 0).all()
        assert (clipped[:, 0] <= w).all()
        assert (clipped[:, 1] >= 0).all()
        assert (clipped[:, 1] <= h).all()
        area = visible.sum() / scale**2
        if box is None:
            assert area < 2  # nothing, or a speck
            continue
        trained = instance_masks([clipped], (h, w), 1)[0]
        np.testing.assert_allclose(box, _mask_box(trained, 1), atol=1.0)
        if area > 4:
            mine = _fill(clipped, w, h, scale)
            differ = np.logical_xor(mine, visible).sum() / scale**2
            assert differ <= 0.02 * area + 8, (differ, area)  # edge pixels only
            checked += 1
    assert checked > 100


def test_a_polygon_inside_the_image_is_returned_as_the_four_sided_cut_returns_it() -> None:
    """The shortcut for polygons wholly inside (no cutting) gives what the four steps give,
    vertex for vertex (the box follows from them); polygons that cross a side still get cut."""
    from yolov9.data.polygons import _cut_to_image

    rng = np.random.default_rng(1)
    w, h = 64, 48
    inside = crossing = 0
    for _ in range(300):
        poly = _star(rng, rng.uniform(0, w), rng.uniform(0, h), rng.uniform(1, 30))
        clipped, box = clip_polygon(poly, w, h)
        full = _cut_to_image(poly, w, h).astype(np.float32)
        np.testing.assert_array_equal(clipped, full)
        if len(full) >= 3:
            lo, hi = full.min(0), full.max(0)
            if box is not None:
                assert (box[:2] >= lo - 1e-6).all()
                assert (box[2:] <= hi + 1e-6).all()
        wholly_inside = (
            (poly.min(0) >= 0).all() and (poly[:, 0].max() <= w) and (poly[:, 1].max() <= h)
        )
        inside += bool(wholly_inside)
        crossing += not wholly_inside
    assert inside > 50
    assert crossing > 50
    on_border = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)  # touching is inside
    np.testing.assert_array_equal(clip_polygon(on_border, w, h)[0], on_border.astype(np.float32))


def test_corners_necks_and_objects_that_left() -> None:
    square = np.array([[-10, -10], [10, -10], [10, 10], [-10, 10]], np.float64)
    _, box = clip_polygon(square, 100, 100)
    np.testing.assert_allclose(box, [0, 0, 10, 10])  # the corner (0, 0) is inside
    around = np.array([[-5, -5], [105, -5], [105, 105], [-5, 105]], np.float64)
    _, box = clip_polygon(around, 100, 100)  # no vertex inside: the corners give the box
    np.testing.assert_allclose(box, [0, 0, 100, 100])
    # a shape that leaves the image through a narrow neck: the box is the neck's, not the
    # span the outside part would have if clamped onto the border
    neck = np.array([[5, 40], [-50, 0], [-50, 100], [5, 60]], np.float64)
    _, box = clip_polygon(neck, 100, 100)
    assert box is not None
    assert box[1] > 30
    assert box[3] < 70
    _, gone = clip_polygon(square + 200, 100, 100)
    assert gone is None


def test_masks_of_pasted_objects_hide_what_they_cover() -> None:
    a = np.array([[0, 0], [20, 0], [20, 20], [0, 20]], np.float32)
    b = a + 10
    kw = {"group": np.array([0, 0]), "layer": np.array([0, 1])}
    m = instance_masks([a, b], (32, 32), 1, **kw)
    assert m[1].sum() == 21 * 21  # on top: whole (the rasteriser includes the edges)
    assert m[0].sum() == 21 * 21 - 11 * 11  # the overlap is b's
    assert not (m[0] & m[1]).any()
    blended = instance_masks([a, b], (32, 32), 1, group=np.array([0, 1]), layer=np.array([0, 1]))
    assert blended[0].sum() == 21 * 21  # MixUp: different images show through each other


def test_copy_paste_and_mixup_record_occlusion() -> None:
    rng = np.random.default_rng(0)
    image = np.zeros((64, 64, 3), np.uint8)
    seg = np.array([[5, 5], [20, 5], [20, 20], [5, 20]], np.float32)
    labels = Labels(np.array([[5, 5, 20, 20]]), np.array([1]), [seg])
    out, pasted = copy_paste(image, labels, 1.0, rng)
    assert len(pasted.classes) == 2
    assert pasted.layer.tolist() == [0, 1]
    _, both = mixup((out, pasted), (out, pasted), rng)
    assert both.group.tolist() == [0, 0, 1, 1]
    assert both.layer.tolist() == [0, 1, 0, 1]


@pytest.fixture(scope="module")
def seg_records(tmp_path_factory: pytest.TempPathFactory) -> list[ImageLabels]:
    forms = write_seg_dataset(tmp_path_factory.mktemp("segaug"), images=12, seed=3)
    return load_dataset(forms["yolo"], "val").records


STRONG = AugmentConfig(degrees=20, shear=5, translate=0.2, scale=0.5, flipud=0.5, mixup=0.5)


@pytest.mark.parametrize("mosaic", [True, False])
def test_augmented_boxes_are_their_masks_boxes(
    seg_records: list[ImageLabels], mosaic: bool
) -> None:
    """Through mosaic, rotation, shear, scale, translation, flips and MixUp: every target's
    box is its full-resolution mask's box within a pixel, and no empty mask survives."""
    spec = AugmentConfig(**{**STRONG.__dict__, "copy_paste": 0.0})  # nothing hidden
    data = TrainDataset(seg_records, 128, spec, seed=1, masks=True, mask_ratio=1)
    data.set_epoch(0, mosaic=mosaic)
    seen = 0
    for i in range(len(data)):
        sample = data[i]
        assert sample.masks is not None
        assert sample.masks.shape == (len(sample.targets), 128, 128)
        for target, mask in zip(sample.targets.numpy(), sample.masks.numpy(), strict=True):
            assert mask.any()
            np.testing.assert_allclose(target[1:], _mask_box(mask, 1), atol=1.0)
            seen += 1
    assert seen > len(data)


def test_masks_at_ratio_4_with_copy_paste(seg_records: list[ImageLabels]) -> None:
    """The training form: masks at a quarter of the size, pasted objects never share a
    pixel with the objects of the same image that they cover; collated one per target."""
    spec = AugmentConfig(**{**STRONG.__dict__, "copy_paste": 1.0, "mixup": 0.0})
    data = TrainDataset(seg_records, 128, spec, seed=2, masks=True)
    samples = [data[i] for i in range(len(data))]
    for s in samples:
        assert s.masks is not None
        assert s.masks.shape[1:] == (32, 32)
        masks = s.masks.numpy().astype(bool)
        overlap = masks.sum(0) > 1  # without MixUp every object is in one group
        assert not overlap.any()
    batch = collate_train(samples[:4])
    assert batch.masks is not None
    assert len(batch.masks) == len(batch.targets)


def test_seeded_masks_repeat(seg_records: list[ImageLabels]) -> None:
    a = TrainDataset(seg_records, 96, STRONG, seed=5, masks=True)
    b = TrainDataset(seg_records, 96, STRONG, seed=5, masks=True)
    for i in (0, 3, 7):
        sa, sb = a[i], b[i]
        assert sa.masks is not None
        assert sb.masks is not None
        assert np.array_equal(sa.masks.numpy(), sb.masks.numpy())
        assert np.array_equal(sa.targets.numpy(), sb.targets.numpy())


def test_box_only_images_without_objects_keep_polygons_for_the_rest(tmp_path: Path) -> None:
    """A background image (no objects) in a polygon dataset leaves the mosaic's polygons in
    place (it used to drop them all, so copy-paste and masks silently stopped)."""
    forms = write_seg_dataset(tmp_path, images=4, seed=4)
    records = load_dataset(forms["yolo"], "val").records
    empty = ImageLabels(
        records[0].path, records[0].width, records[0].height, np.zeros((0, 4)), np.zeros(0)
    )
    assert empty.training_segments() == []
    data = TrainDataset([*records, empty], 96, STRONG, seed=0, masks=True)
    for i in range(len(data)):
        sample = data[i]
        assert sample.masks is not None
        assert len(sample.masks) == len(sample.targets)


def test_semantic_target_equals_the_references(shared: Path) -> None:
    """The authors' stuff files of the loss fixture, rasterised at 320 px and ratio 4, give
    the reference's (2, 173, 80, 80) multi-hot target exactly."""
    pan = shared / "parity" / "pan"
    want = np.load(pan / "pan_loss_semasks.npy")
    stems = ["000000119828", "000000269316"]
    for i, stem in enumerate(stems):
        lines = (pan / "pan_loss_labels" / "stuff" / f"{stem}.txt").read_text().splitlines()
        values = [np.array(line.split(), np.float32) for line in lines if line.strip()]
        channels = [int(v[0]) for v in values]
        polygons = [v[1:].reshape(-1, 2) * np.float32(320) for v in values]
        got = semantic_target(polygons, channels, (320, 320), 4, 173)
        assert got.shape == want[i].shape
        assert (got == want[i]).all()
