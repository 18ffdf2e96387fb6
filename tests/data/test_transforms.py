"""Augmentation: boxes stay valid, seeded runs repeat, any image kind works."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yolov9.data.augment import AugmentConfig
from yolov9.data.dataset import load_dataset
from yolov9.data.labels import ImageLabels
from yolov9.data.train_dataset import TrainDataset
from yolov9.data.transforms import Labels, copy_paste, flip_lr, random_affine


@pytest.fixture(scope="module")
def records(shapes: dict[str, Path]) -> list[ImageLabels]:
    return load_dataset(shapes["yolo"], "train").records


@pytest.mark.parametrize("mosaic", [True, False])
def test_boxes_stay_inside_and_valid(records: list[ImageLabels], mosaic: bool) -> None:
    data = TrainDataset(records, 128, seed=3)
    data.set_epoch(0, mosaic=mosaic)
    total = 0
    for i in range(len(data)):
        s = data[i]
        assert s.image.shape == (128, 128, 3)
        t = s.targets.numpy()
        total += len(t)
        assert (t[:, 1:] >= 0).all()
        assert (t[:, 1:] <= 128).all()
        assert (t[:, 3] - t[:, 1] > 2).all()
        assert (t[:, 4] - t[:, 2] > 2).all()
        assert set(t[:, 0].astype(int)) <= {0, 1, 2, 3}
    assert total > len(data)  # most objects survive


def test_seeded_samples_repeat(records: list[ImageLabels]) -> None:
    a, b = TrainDataset(records, 96, seed=7), TrainDataset(records, 96, seed=7)
    for i in (0, 5, 11):
        sa, sb = a[i], b[i]
        assert np.array_equal(sa.image.numpy(), sb.image.numpy())
        assert np.array_equal(sa.targets.numpy(), sb.targets.numpy())
    b.set_epoch(1)
    assert not np.array_equal(a[0].image.numpy(), b[0].image.numpy())


def test_image_cache_gives_identical_samples(records: list[ImageLabels]) -> None:
    """Cached images are never modified by augmentation: every epoch draws what decoding
    from disk would give."""
    plain, cached = TrainDataset(records, 96, seed=7), TrainDataset(records, 96, seed=7)
    assert cached.cache_images(1 << 30)
    assert not TrainDataset(records, 96).cache_images(1000)  # over budget: not cached
    for epoch in range(3):
        for data in (plain, cached):
            data.set_epoch(epoch, mosaic=epoch != 1)
        for i in range(len(records)):
            a, b = plain[i], cached[i]
            assert np.array_equal(a.image.numpy(), b.image.numpy())
            assert np.array_equal(a.targets.numpy(), b.targets.numpy())


def test_without_augmentation_it_is_a_plain_letterbox(records: list[ImageLabels]) -> None:
    data = TrainDataset(records, 128, augment=False)
    s = data[0]
    expected = records[0].boxes[records[0].train_mask] * 0.5  # 256 -> 128, no padding
    np.testing.assert_allclose(s.targets[:, 1:].numpy(), expected, atol=2e-3)


def test_any_image_kind(tmp_path: Path) -> None:
    images = {
        "gray16.png": np.full((90, 300), 40000, np.uint16),
        "rgba.png": np.full((200, 150, 4), 90, np.uint8),
        "wide.jpg": np.full((40, 900, 3), 200, np.uint8),
        "gray.png": np.full((123, 77), 10, np.uint8),
    }
    records = []
    for name, array in images.items():
        cv2.imwrite(str(tmp_path / name), array)
        h, w = array.shape[:2]
        box = np.array([[w * 0.2, h * 0.2, w * 0.7, h * 0.8]], np.float32)
        records.append(ImageLabels(str(tmp_path / name), w, h, box, np.array([0])))
    data = TrainDataset(records, 64, seed=0)
    for mosaic in (True, False):
        data.set_epoch(0, mosaic=mosaic)
        for i in range(len(data)):
            s = data[i]
            assert s.image.shape == (64, 64, 3)
            assert s.problems == []


def test_unreadable_image_is_replaced_and_reported(
    records: list[ImageLabels], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    broken = [ImageLabels(str(bad), 256, 256, np.zeros((0, 4)), np.zeros(0)), *records[:3]]
    for cache in (False, True):
        data = TrainDataset(broken, 64, seed=0)
        if cache:
            assert data.cache_images(1 << 30)
        data.set_epoch(0, mosaic=False)
        sample = data[0]
        assert sample.image.shape == (64, 64, 3)
        assert any("bad.png" in p for p in sample.problems)


def test_flip_and_identity_affine() -> None:
    image = np.zeros((10, 20, 3), np.uint8)
    labels = Labels(np.array([[2.0, 1, 6, 5]]), np.array([1]))
    _, flipped = flip_lr(image, labels)
    np.testing.assert_allclose(flipped.boxes, [[14, 1, 18, 5]])
    still = AugmentConfig(translate=0, scale=0)
    out, same = random_affine(image, labels, np.random.default_rng(0), still)
    np.testing.assert_allclose(same.boxes, labels.boxes, atol=1e-4)
    assert out.shape == image.shape


def test_copy_paste_needs_polygons() -> None:
    image = np.random.default_rng(0).integers(0, 255, (100, 200, 3), dtype=np.uint8)
    boxes = np.array([[10.0, 10, 40, 40]])
    rng = np.random.default_rng(0)
    same_image, same = copy_paste(image, Labels(boxes, np.array([2])), 1.0, rng)
    assert same_image is image
    assert len(same.classes) == 1
    square = np.array([[10, 10], [40, 10], [40, 40], [10, 40]], np.float32)
    pasted_image, pasted = copy_paste(image, Labels(boxes, np.array([2]), [square]), 1.0, rng)
    assert pasted.classes.tolist() == [2, 2]
    np.testing.assert_allclose(pasted.boxes[1], [160, 10, 190, 40])
    assert not np.array_equal(pasted_image[20:30, 165:185], image[20:30, 165:185])
