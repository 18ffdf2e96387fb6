"""The generated shapes datasets: detection output pinned, segmentation masks exact."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolov9.data.dataset import load_dataset
from yolov9.data.images import read_image
from yolov9.data.labels import polygon_area
from yolov9.data.synthetic import (
    SHAPES,
    _normalised,
    coco_polygon_mask,
    make_photo,
    make_scene,
    make_segment_scene,
    write_dataset,
)

# Written by the detection generator before segmentation mode existed: the label files
# exactly; the images by their mean (robust to OpenCV rounding, not to another draw order).
DETECTION_LABELS_SHA256 = "2a1be63cd77e60ba2f242b1029d7395a085ea5d27cdf73228bd6920b141d4373"
DETECTION_IMAGE_MEANS = [120.34, 139.29, 117.96, 119.62, 142.82, 98.93]


def test_detection_dataset_unchanged(tmp_path: Path) -> None:
    write_dataset(
        tmp_path,
        splits={"train": 4, "val": 2},
        size=(64, 96),
        formats=("yolo", "coco", "voc"),
        background_every=3,
    )
    digest = hashlib.sha256()
    for f in sorted(p for p in tmp_path.rglob("*") if p.suffix in (".txt", ".json", ".xml")):
        digest.update(f.relative_to(tmp_path).as_posix().encode())
        digest.update(f.read_bytes())
    assert digest.hexdigest() == DETECTION_LABELS_SHA256
    means = [float(read_image(f).mean()) for f in sorted(tmp_path.rglob("*.png"))]
    np.testing.assert_allclose(means, DETECTION_IMAGE_MEANS, atol=0.02)

    image, boxes, labels = make_scene(np.random.default_rng(7), (80, 80), max_objects=4)
    assert boxes.tolist() == [[55, 22, 80, 49], [3, 13, 30, 41], [44, 57, 64, 76]]
    assert labels.tolist() == [1, 3, 2]
    assert image.mean() == pytest.approx(144.26, abs=0.02)


@pytest.mark.parametrize("size", [(256, 256), (90, 150)])
def test_segment_scene_pixels_are_the_masks(size: tuple[int, int]) -> None:
    """On a flat background, the pixels that changed are exactly the polygons' masks."""
    h, w = size
    flat = np.full((40, 40, 3), 128, np.uint8)
    rng = np.random.default_rng(3)
    objects = 0
    for _ in range(6):
        image, boxes, labels, polygons = make_segment_scene(rng, size, photo=flat)
        assert image.shape == (h, w, 3)
        assert image.dtype == np.uint8
        assert len(boxes) == len(labels) == len(polygons) >= 1
        masks = np.stack([coco_polygon_mask(p, h, w) for p in polygons])
        drawn = (image != 128).any(-1)
        np.testing.assert_array_equal(drawn, masks.any(0))  # nothing else was drawn
        assert masks.sum(0).max() == 1  # no overlaps
        for pts, box, mask in zip(polygons, boxes, masks, strict=True):
            assert (pts == np.round(pts)).all()
            assert pts.min() >= 0
            assert (pts.max(0) <= (w - 1, h - 1)).all()
            np.testing.assert_array_equal(box, np.concatenate((pts.min(0), pts.max(0))))
            colours = image[mask]
            assert (colours == colours[0]).all()  # one flat colour, no anti-aliasing
        objects += len(boxes)
        assert set(labels.tolist()) <= set(range(len(SHAPES)))
    assert objects >= 12


def test_normalised_reads_back_as_whole_pixels() -> None:
    for size in (22, 23, 29, 90, 150, 256, 640, 1000, 1333):
        pixels = np.arange(size + 1)
        values = np.array([float(t) for t in _normalised(pixels, size)])
        np.testing.assert_array_equal((values * size).astype(np.int64), pixels)  # float64
        as_float32 = values.astype(np.float32) * np.float32(size)  # the YOLO readers' way
        np.testing.assert_array_equal(as_float32.astype(np.int32), pixels)
        assert (values * size - pixels).max() < 1e-3


def test_make_photo_is_cluttered_and_deterministic() -> None:
    photo = make_photo(np.random.default_rng(0), (96, 128))
    assert photo.shape == (96, 128, 3)
    assert photo.dtype == np.uint8
    np.testing.assert_array_equal(photo, make_photo(np.random.default_rng(0), (96, 128)))
    grey = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert grey.std() > 8  # not a flat colour
    assert np.abs(cv2.Laplacian(grey, cv2.CV_32F)).mean() > 1  # detail, not a pure gradient
    other = make_photo(np.random.default_rng(1), (96, 128))
    assert np.abs(photo.astype(int) - other).mean() > 10


def test_segment_dataset_loads_with_exact_masks(tmp_path: Path) -> None:
    h, w = 90, 150  # not powers of two: normalised YOLO values are not exact binary fractions
    out = write_dataset(
        tmp_path,
        splits={"train": 8, "val": 3},
        size=(h, w),
        seed=5,
        formats=("yolo", "coco", "voc"),
        background_every=4,
        masks=True,
    )
    yolo = load_dataset(str(out["yolo"]), "train")
    coco = load_dataset(str(out["coco"]), "train")
    voc = load_dataset(str(out["voc"]), "train")
    assert yolo.has_masks
    assert coco.has_masks
    assert not voc.has_masks
    for ds in (yolo, coco, voc):
        assert not ds.report.problems, ds.report.summary()
    assert len(yolo.records) == 8
    assert yolo.report.boxes == coco.report.boxes > 8

    coco_json = json.loads((tmp_path / "annotations" / "instances_train.json").read_text())
    for ann in coco_json["annotations"]:
        points = np.array(ann["segmentation"][0], np.float64).reshape(-1, 2)
        (x1, y1), (x2, y2) = points.min(0), points.max(0)
        assert ann["bbox"] == [x1, y1, x2 - x1, y2 - y1]
        assert ann["area"] == pytest.approx(polygon_area(points))

    ring_kernel = np.ones((3, 3), np.uint8)
    for ry, rc, rv in zip(yolo.records, coco.records, voc.records, strict=True):
        np.testing.assert_array_equal(ry.classes, rc.classes)
        np.testing.assert_allclose(ry.boxes, rc.boxes, atol=1e-3)
        np.testing.assert_allclose(rv.boxes, rc.boxes, atol=1e-3)
        if not len(rc.classes):
            assert ry.segmentations is None
            assert rc.segmentations is None
            continue
        assert ry.segments is not None
        assert rc.segments is not None
        assert rc.segmentations is not None
        for box, seg in zip(rc.boxes, rc.segmentations, strict=True):
            assert isinstance(seg, list)
            assert len(seg) == 1
            np.testing.assert_array_equal(box, np.concatenate((seg[0].min(0), seg[0].max(0))))
        np.testing.assert_array_equal(ry.instance_masks(), rc.instance_masks())
        masks = np.stack([coco_polygon_mask(s[0], rc.height, rc.width) for s in rc.segmentations])
        # on the photographic background: the object's flat colour fills its (COCO) mask, and
        # (almost) no pixel around it has that colour
        image = read_image(rc.path)
        for mask in masks:
            colour = image[mask][0]
            assert (image[mask] == colour).all()
            near = cv2.dilate(mask.astype(np.uint8), ring_kernel, iterations=3).astype(bool)
            drawn = near & (image == colour).all(-1)
            assert (drawn & mask).sum() / (drawn | mask).sum() > 0.97
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        assert grey[~masks.any(0)].std() > 5  # the background is a photo, not a flat colour
