"""Uploaded images, checked before they cost memory: the size of the body, then the format and
the pixel count read from the header (a decompression bomb is refused before it is decoded),
then a complete decode (a truncated file is refused, not half-read), EXIF-oriented, as RGB."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF")


class BadInputError(Exception):
    """A request the service refuses: ``status`` (4xx) and a one-line ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class ImageLimits:
    """``max_bytes``: of an upload; ``max_pixels``: width x height of an image."""

    max_bytes: int = 20 << 20
    max_pixels: int = 40_000_000


def decode_image(body: bytes, limits: ImageLimits) -> np.ndarray:
    """The uploaded image as RGB uint8 (H, W, 3).

    Raises:
        BadInputError: empty (400), too large (413), not an image of :data:`FORMATS` (415), too many
            pixels (413), or corrupt or truncated (400).
    """
    if not body:
        raise BadInputError(
            400, "empty body: send an image (multipart field 'image', or the raw bytes)"
        )
    if len(body) > limits.max_bytes:
        raise BadInputError(
            413, f"upload of {len(body)} bytes exceeds the limit of {limits.max_bytes}"
        )
    try:
        with warnings.catch_warnings():  # the pixel limit below is ours, not Pillow's
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(body), formats=FORMATS)
    except Image.UnidentifiedImageError:
        raise BadInputError(
            415, f"the body is not an image of a format we read ({', '.join(FORMATS)})"
        ) from None
    except Image.DecompressionBombError as e:
        raise BadInputError(413, f"image refused before decoding: {e}") from None
    except Exception as e:  # any decoder failure on untrusted bytes is the bytes' fault
        raise BadInputError(400, f"unreadable image header: {type(e).__name__}: {e}") from None
    width, height = image.size
    if width < 2 or height < 2:
        raise BadInputError(400, f"image too small ({width}x{height})")
    if width * height > limits.max_pixels:
        raise BadInputError(
            413,
            f"image of {width}x{height} = {width * height} pixels exceeds the limit of "
            f"{limits.max_pixels}",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()  # the whole file: a truncated one raises here
            oriented = ImageOps.exif_transpose(image) or image
            rgb = oriented.convert("RGB")
    except Exception as e:  # as above: truncated, corrupt, or a decoder's own failure
        raise BadInputError(400, f"corrupt or truncated {image.format} image: {e}") from None
    return np.asarray(rgb, dtype=np.uint8).copy()
