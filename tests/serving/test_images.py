"""Uploaded images: decoded whole and EXIF-oriented, or refused with the status that fits,
the pixel count judged from the header before any decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from yolov9.serving.images import BadInputError, ImageLimits, decode_image
from yolov9.serving.params import parse_params


def _jpeg(width: int, height: int, orientation: int | None = None) -> bytes:
    image = Image.fromarray(np.full((height, width, 3), 120, np.uint8))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def test_exif_orientation_is_applied() -> None:
    assert decode_image(_jpeg(40, 20), ImageLimits()).shape == (20, 40, 3)
    assert decode_image(_jpeg(40, 20, orientation=6), ImageLimits()).shape == (40, 20, 3)


def test_limits_are_judged_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _jpeg(400, 300)

    def no_decoding(*_: object) -> None:
        raise AssertionError("decoded an image beyond the limit")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(BadInputError, match="400x300 = 120000 pixels") as e:
        decode_image(body, ImageLimits(max_pixels=100_000))
    assert e.value.status == 413
    with pytest.raises(BadInputError, match="exceeds the limit of 1000") as e:
        decode_image(body, ImageLimits(max_bytes=1000))
    assert e.value.status == 413


def test_query_fields_parse_or_name_what_is_wrong() -> None:
    p = parse_params({"conf": "0.5", "classes": "1,0,1", "agnostic": "true"}, num_classes=3)
    assert (p.conf, p.classes, p.agnostic) == (0.5, (0, 1), True)
    assert p.nms()["classes"] == [0, 1]
    assert parse_params({}, 3).nms()["conf"] == 0.25
    for query, message in [
        ({"tile": "100"}, "multiple of 32"),
        ({"masks": "png"}, "rle, polygon or none"),
        ({"agnostic": "yes"}, "true or false"),
        ({"max_det": "3.5"}, "whole number"),
    ]:
        with pytest.raises(BadInputError, match=message):
            parse_params(query, num_classes=3)
