"""The query fields of ``POST /v1/predict``, checked one by one: a bad value or an unknown field
is a 400 naming the field and what it takes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from yolov9.serving.images import BadInputError

DRAW = ("false", "true", "inline")  # JSON; the annotated JPEG; JSON with the JPEG inside


@dataclass(frozen=True)
class PredictParams:
    """One request's options: ``nms`` (conf, iou, max_det, classes, agnostic) go to the
    predictor; ``draw`` picks the answer; ``tile``: the side of sliced inference's tiles
    (0: whole image); ``masks``: the masks' JSON form (rle, polygon or none)."""

    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    classes: tuple[int, ...] | None = None
    agnostic: bool = False
    draw: str = "false"
    tile: int = 0
    masks: str = "rle"

    def nms(self) -> dict[str, object]:
        return {
            "conf": self.conf,
            "iou": self.iou,
            "max_det": self.max_det,
            "classes": list(self.classes) if self.classes is not None else None,
            "agnostic": self.agnostic,
        }


DIGITS = re.compile(r"[0-9]{1,6}")  # ASCII digits only, and no 4300-digit numbers
MIN_TILE, MAX_TILE = 128, 2048  # sliced inference's tile side in a request
MAX_WINDOWS = 256  # tiles of one image at most: a request must not hold the worker for long

FIELDS = ("conf", "iou", "max_det", "classes", "agnostic", "draw", "tile", "masks")


def _number(query: Mapping[str, str], key: str, low: float, high: float) -> float:
    raw = query[key]
    try:
        value = float(raw)
    except ValueError:
        raise BadInputError(400, f"{key}={raw!r}: expected a number in [{low}, {high}]") from None
    if not low <= value <= high:
        raise BadInputError(400, f"{key}={raw!r}: expected a number in [{low}, {high}]")
    return value


def _integer(query: Mapping[str, str], key: str, low: int, high: int) -> int:
    raw = query[key]
    if not DIGITS.fullmatch(raw) or not low <= int(raw) <= high:
        raise BadInputError(400, f"{key}={raw!r}: expected a whole number in [{low}, {high}]")
    return int(raw)


def _flag(query: Mapping[str, str], key: str) -> bool:
    raw = query[key].lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadInputError(400, f"{key}={query[key]!r}: expected true or false")
    return raw in ("true", "1")


def parse_params(query: Mapping[str, str], num_classes: int) -> PredictParams:
    """The request's options from its query fields (absent ones keep their defaults).

    Raises:
        BadInputError: an unknown field or a bad value (400), naming it.
    """
    unknown = sorted(set(query) - set(FIELDS))
    if unknown:
        raise BadInputError(400, f"unknown query field(s) {unknown}; known: {', '.join(FIELDS)}")
    kw: dict[str, object] = {}
    if "conf" in query:
        kw["conf"] = _number(query, "conf", 0.0, 1.0)
    if "iou" in query:
        kw["iou"] = _number(query, "iou", 0.0, 1.0)
    if "max_det" in query:
        kw["max_det"] = _integer(query, "max_det", 1, 10_000)
    if "classes" in query and query["classes"].strip():
        parts = query["classes"].split(",")
        if not all(DIGITS.fullmatch(p.strip()) and int(p) < num_classes for p in parts):
            raise BadInputError(
                400,
                f"classes={query['classes']!r}: expected class ids in 0..{num_classes - 1}, "
                "separated by commas",
            )
        kw["classes"] = tuple(sorted({int(p) for p in parts}))
    if "agnostic" in query:
        kw["agnostic"] = _flag(query, "agnostic")
    if "draw" in query:
        if query["draw"].lower() not in DRAW:
            raise BadInputError(400, f"draw={query['draw']!r}: expected one of {', '.join(DRAW)}")
        kw["draw"] = query["draw"].lower()
    if "tile" in query:
        kw["tile"] = tile = _integer(query, "tile", 0, MAX_TILE)
        if tile % 32 or 0 < tile < MIN_TILE:
            raise BadInputError(
                400,
                f"tile={query['tile']!r}: expected a multiple of 32 in [{MIN_TILE}, {MAX_TILE}] "
                "(0: none)",
            )
    if "masks" in query:
        if query["masks"] not in ("rle", "polygon", "none"):
            raise BadInputError(400, f"masks={query['masks']!r}: expected rle, polygon or none")
        kw["masks"] = query["masks"]
    return PredictParams(**kw)  # type: ignore[arg-type]
