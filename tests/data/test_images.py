"""Image reading (any bit depth and channel count) and letterboxing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from yolov9.data.images import boxes_to_original, letterbox, read_image
from yolov9.errors import DataError


@pytest.mark.parametrize(
    ("array", "suffix"),
    [
        (np.full((20, 30), 200, np.uint8), ".png"),  # gray
        (np.full((20, 30, 4), 200, np.uint8), ".png"),  # BGRA
        (np.full((20, 30, 3), 51400, np.uint16), ".png"),  # 16 bit
        (np.full((20, 30, 3), 200, np.uint8), ".jpg"),
    ],
)
def test_read_image_converts_to_rgb8(tmp_path: Path, array: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"x{suffix}"
    cv2.imwrite(str(path), array)
    image = read_image(path)
    assert image.shape == (20, 30, 3)
    assert image.dtype == np.uint8
    assert abs(int(image[5, 5, 0]) - 200) <= 2


def test_read_image_channel_order_is_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    assert read_image(tmp_path / "red.png")[0, 0].tolist() == [255, 0, 0]


def test_corrupt_and_missing_images(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataError, match=r"bad.jpg: cannot decode image"):
        read_image(tmp_path / "bad.jpg")
    with pytest.raises(DataError, match=r"missing\.jpg: cannot read file"):
        read_image(tmp_path / "missing.jpg")


@pytest.mark.parametrize(
    ("h", "w", "auto", "shape"),
    [
        (480, 640, False, (640, 640)),
        (480, 640, True, (480, 640)),
        (500, 375, True, (640, 480)),
        (101, 333, True, (224, 640)),
    ],
)
def test_letterbox_shapes(h: int, w: int, auto: bool, shape: tuple[int, int]) -> None:
    out, info = letterbox(np.zeros((h, w, 3), np.uint8), 640, auto=auto)
    assert out.shape[:2] == shape
    assert info.original_shape == (h, w)


def test_boxes_map_back_exactly() -> None:
    image = np.zeros((300, 500, 3), np.uint8)
    _, info = letterbox(image, 640, auto=False)
    boxes = np.array([[10.0, 20, 110, 220], [0, 0, 500, 300]], np.float32)
    in_input = boxes * info.ratio + np.array([*info.pad, *info.pad], np.float32)
    np.testing.assert_allclose(boxes_to_original(in_input, info), boxes, atol=1e-3)
