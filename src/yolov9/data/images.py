"""Reading images and letterboxing them for the network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yolov9.errors import DataError

IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".png",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".jp2",
    ".pbm",
    ".pgm",
    ".ppm",
}
PAD_VALUE = 114


def to_rgb8(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Any decoded image (gray, BGR, BGRA; 8, 16 bit or float) -> RGB uint8 (H, W, 3).

    OpenCV channel order (BGR) is assumed for colour input.
    """
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        if not np.issubdtype(image.dtype, np.floating):
            raise DataError(f"{source}: unsupported pixel type {image.dtype}")
        image = (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise DataError(f"{source}: unsupported image shape {image.shape}")
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3), EXIF-oriented; gray, RGBA and 16-bit files
    are converted.

    Raises:
        DataError: the file is missing, empty or cannot be decoded.
    """
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DataError(f"{path}: cannot read file ({e.strerror or e})") from None
    # ANYCOLOR|ANYDEPTH: gray or colour, 8 or 16 bit, alpha dropped, EXIF orientation applied
    # (as the dataset's sizes are); IMREAD_UNCHANGED would ignore the orientation.
    image = cv2.imdecode(raw, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH) if raw.size else None
    if image is None:
        raise DataError(f"{path}: cannot decode image (corrupt or unsupported format)")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise DataError(f"{path}: image too small ({image.shape[1]}x{image.shape[0]})")
    return to_rgb8(image, str(path))


@dataclass(frozen=True)
class LetterboxInfo:
    """How an image was placed in the network input: ``input = original * ratio + pad``."""

    ratio: float
    pad: tuple[float, float]  # (left, top) padding in input pixels
    original_shape: tuple[int, int]  # (h, w)


def letterboxed_shape(
    shape: tuple[int, int], new_shape: int | tuple[int, int], *, auto: bool, stride: int = 32
) -> tuple[int, int]:
    """The (h, w) :func:`letterbox` gives an image of ``shape`` (h, w), without doing it."""
    h, w = shape
    th, tw = (new_shape, new_shape) if isinstance(new_shape, int) else new_shape
    if not auto:
        return th, tw
    r = min(th / h, tw / w)
    new_w, new_h = round(w * r), round(h * r)
    return new_h + (th - new_h) % stride, new_w + (tw - new_w) % stride


def letterbox(
    image: np.ndarray,
    new_shape: int | tuple[int, int] = 640,
    *,
    auto: bool = False,
    scaleup: bool = True,
    stride: int = 32,
    pad_value: int = PAD_VALUE,
    interpolation: int = cv2.INTER_LINEAR,
) -> tuple[np.ndarray, LetterboxInfo]:
    """Resize keeping the aspect ratio and pad to ``new_shape`` (h, w), centred.

    With ``auto`` the padding is reduced to the smallest multiple of ``stride`` (a rectangle
    instead of a square). An odd padding pixel goes to the bottom/right, as in the reference.
    A label map goes through the same steps with ``cv2.INTER_NEAREST`` and its void value.
    """
    h, w = image.shape[:2]
    th, tw = (new_shape, new_shape) if isinstance(new_shape, int) else new_shape
    r = min(th / h, tw / w)
    if not scaleup:
        r = min(r, 1.0)
    new_w, new_h = round(w * r), round(h * r)
    dw, dh = tw - new_w, th - new_h
    if auto:
        dw, dh = dw % stride, dh % stride
    dw2, dh2 = dw / 2, dh / 2
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    top, bottom = round(dh2 - 0.1), round(dh2 + 0.1)
    left, right = round(dw2 - 0.1), round(dw2 + 0.1)
    image = cv2.copyMakeBorder(
        image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(pad_value,) * 3
    )
    return image, LetterboxInfo(r, (dw2, dh2), (h, w))


def boxes_to_original(boxes_xyxy: np.ndarray, info: LetterboxInfo) -> np.ndarray:
    """Map (N, 4) xyxy boxes from network-input pixels back to the original image, clipped."""
    out = boxes_xyxy.astype(np.float32, copy=True)
    out[:, [0, 2]] -= info.pad[0]
    out[:, [1, 3]] -= info.pad[1]
    out /= info.ratio
    h, w = info.original_shape
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out
