"""Labelled images and the report of everything wrong with them.

Every format reader produces :class:`ImageLabels` records and fills a :class:`LabelReport`:
each problem is recorded with its file, line (where there is one) and what was done about it.
Nothing is dropped silently.

Instance masks are kept exactly as the labels give them (:data:`Segmentation`): polygons in
pixels (an object may have several parts) or a COCO run-length encoding. Polygon rules, shared
by all formats (:func:`check_polygon`): a part with an odd number of coordinates, fewer than 3
points, a point more than 1 % of the image outside it, or no area is dropped, and the object
with it when no part is left (the object's mask would be unknown); a smaller overhang is
clipped, as boxes are; a self-crossing part is kept and filled as COCO fills it. Each case is
recorded.
"""

from __future__ import annotations

import enum
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from faster_coco_eval.core import mask as coco_mask
from PIL import Image, UnidentifiedImageError

from yolov9.ops.masks import decode_rle

log = logging.getLogger(__name__)

Polygons = list[np.ndarray]
"""An object's polygon parts, each (K, 2) float64 x, y in pixels; the mask is their union."""
Rle = dict[str, Any]
"""A COCO compressed run-length encoding: ``{"size": [height, width], "counts": str}``."""
Segmentation = Polygons | Rle
"""One object's exact instance mask: polygon parts or an RLE."""


@dataclass
class ImageLabels:
    """One image and its ground truth, in pixels of the (EXIF-oriented) image.

    Attributes:
        path: image file.
        width, height: image size.
        boxes: (N, 4) float32 xyxy boxes.
        classes: (N,) int64 class indices.
        image_id: COCO image id (the JSON's, a numeric file stem, or the position).
        crowd: (N,) bool; True marks an ignore region (COCO ``iscrowd``, VOC ``difficult``):
            kept for evaluation, never a training target.
        areas: (N,) float32 areas used for the COCO size ranges: the COCO JSON's ``area``,
            else the mask's (polygon area, RLE pixel count), else the box's.
        segments: one (K, 2) float32 training polygon per box where every object has a mask,
            else None: the polygon itself (YOLO), the longest part (COCO polygons) or the
            largest outer contour of the mask (RLE, VOC PNG). Augmentation moves these.
        segmentations: the exact mask of each box (:data:`Segmentation`, None for an object
            without one), or None where the labels have no masks. Evaluation uses these.
    """

    path: str
    width: int
    height: int
    boxes: np.ndarray
    classes: np.ndarray
    image_id: int = 0
    crowd: np.ndarray | None = None
    areas: np.ndarray | None = None
    segments: list[np.ndarray] | None = None
    segmentations: list[Segmentation | None] | None = None

    def __post_init__(self) -> None:
        n = len(self.classes)
        if self.crowd is None:
            self.crowd = np.zeros(n, dtype=bool)
        if self.areas is None:
            wh = self.boxes[:, 2:4] - self.boxes[:, :2] if n else np.zeros((0, 2), np.float32)
            self.areas = (wh[:, 0] * wh[:, 1]).astype(np.float32)

    @property
    def train_mask(self) -> np.ndarray:
        """Boxes that are training targets (not ignore regions)."""
        assert self.crowd is not None
        return ~self.crowd

    def training_segments(self) -> list[np.ndarray] | None:
        """The training polygons of the training targets (``train_mask``), or None when one
        of them has no mask; an image without targets has an empty list."""
        keep = self.train_mask
        if self.segments is not None:
            return [s for s, k in zip(self.segments, keep, strict=True) if k]
        kept = [s for s, k in zip(self.object_segmentations(), keep, strict=True) if k]
        if any(s is None for s in kept):
            return None
        return [training_polygon(s) for s in kept if s is not None]

    def object_segmentations(self) -> list[Segmentation | None]:
        """Each object's mask: ``segmentations``; for records made with ``segments`` only,
        those polygons; else None per object."""
        if self.segmentations is not None:
            return self.segmentations
        if self.segments is not None:
            return [[s.astype(np.float64)] for s in self.segments]
        return [None] * len(self.classes)

    def instance_masks(self, ratio: int = 1, size: tuple[int, int] | None = None) -> np.ndarray:
        """(N, H // ratio, W // ratio) uint8 masks of all N objects, drawn on an (H, W) canvas
        (``size``, default the image's) and downsampled as the reference's ``polygon2mask``.

        Polygons are scaled to the canvas and filled there (see :func:`rasterize_polygons`);
        an RLE is decoded, resized to the canvas (nearest) and downsampled the same way.

        Raises:
            ValueError: an object has no mask.
        """
        height, width = size or (self.height, self.width)
        segmentations = self.object_segmentations()
        scale = np.array([width / self.width, height / self.height])
        out = np.zeros((len(segmentations), height // ratio, width // ratio), np.uint8)
        for i, seg in enumerate(segmentations):
            if seg is None:
                raise ValueError(f"{self.path}: object {i} has no mask")
            if isinstance(seg, dict):
                mask = decode_rle(seg).astype(np.uint8)
                if mask.shape != (height, width):
                    mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
                out[i] = downsample_mask(mask, ratio)
            else:
                parts = seg if (scale == 1).all() else [p * scale for p in seg]
                out[i] = rasterize_polygons([parts], height, width, ratio)[0]
        return out


def rasterize_polygons(
    objects: Sequence[Sequence[np.ndarray]], height: int, width: int, ratio: int = 1
) -> np.ndarray:
    """(N, height // ratio, width // ratio) uint8 {0, 1} masks, one per object (a sequence
    of (K, 2) polygon parts in pixels of the height x width canvas).

    The reference's ``polygon2mask``: coordinates truncated to int32, filled with
    ``cv2.fillPoly(color=1)`` on a zero uint8 canvas (each part on its own, so parts unite),
    then ``cv2.resize`` to (width // ratio, height // ratio) with bilinear interpolation.
    """
    out = np.zeros((len(objects), height // ratio, width // ratio), np.uint8)
    for i, parts in enumerate(objects):
        canvas = np.zeros((height, width), np.uint8)
        for part in parts:
            points = np.asarray(part).astype(np.int32).reshape(-1, 2)
            cv2.fillPoly(canvas, [points], color=1)
        out[i] = downsample_mask(canvas, ratio)
    return out


def downsample_mask(mask: np.ndarray, ratio: int) -> np.ndarray:
    """A uint8 (H, W) mask resized to (H // ratio, W // ratio) with bilinear interpolation."""
    height, width = mask.shape
    return cv2.resize(mask, (width // ratio, height // ratio))


def compress_rle(rle: dict[str, Any]) -> Rle:
    """A COCO RLE (counts a list, a str or bytes) in the compressed, JSON-ready form.

    Raises:
        ValueError: no ``size`` [h, w] or ``counts``, or counts that do not fit the size.
    """
    size, counts = rle.get("size"), rle.get("counts")
    if not isinstance(size, Sequence) or len(size) != 2 or counts is None:
        raise ValueError("an RLE needs 'size': [height, width] and 'counts'")
    height, width = (int(v) for v in size)
    if isinstance(counts, list):
        if not all(isinstance(c, int) and c >= 0 for c in counts):
            raise ValueError("uncompressed RLE counts must be non-negative integers")
        if sum(counts) != height * width:
            raise ValueError(f"RLE counts sum to {sum(counts)}, not {height} x {width}")
        counts = coco_mask.frPyObjects({"size": [height, width], "counts": counts}, height, width)[
            "counts"
        ]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    if not isinstance(counts, str):
        raise ValueError("RLE counts must be a list of integers or a string")
    out = {"size": [height, width], "counts": counts}
    try:
        coco_mask.area(out)  # decodes the whole string: overruns and early ends raise
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"RLE counts unreadable ({e})") from None
    return out


def segmentation_area(seg: Segmentation) -> float:
    """Area in pixels: the sum of the parts' polygon areas (COCO's ``area`` of polygon
    annotations), or the RLE's pixel count."""
    if isinstance(seg, dict):
        return float(coco_mask.area(seg))
    return float(sum(polygon_area(p) for p in seg))


def polygon_area(points: np.ndarray) -> float:
    """Shoelace area of a (K, 2) polygon (absolute value; a self-crossing one nets out)."""
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    twice = float(np.dot(x[:-1], y[1:]) - np.dot(y[:-1], x[1:])) + float(
        x[-1] * y[0] - y[-1] * x[0]
    )
    return 0.5 * abs(twice)


def self_intersecting(points: np.ndarray) -> bool:
    """Whether two edges of a closed (K, 2) polygon cross, each passing strictly through the
    other's line (touching and overlapping edges do not count)."""
    if len(points) < 4:
        return False
    a = np.concatenate((points, points[:1])).astype(np.float64, copy=False)  # closed
    d = a[1:] - a[:-1]  # edge i runs from a[i] to a[i + 1]
    # side[i, j]: on which side of edge i's line vertex j lies (a cross product)
    side = np.outer(d[:, 0], a[:, 1])
    side -= np.outer(d[:, 1], a[:, 0])
    side -= (d[:, 0] * a[:-1, 1] - d[:, 1] * a[:-1, 0])[:, None]
    straddles = side[:, :-1] * side[:, 1:] < 0  # edge j's ends on both sides of edge i
    return bool((straddles & straddles.T).any())


def training_polygon(seg: Segmentation) -> np.ndarray:
    """One (K, 2) float32 polygon for augmentation: the longest part of a polygon mask, or the
    largest outer contour of an RLE mask (its pixel box when the mask is a line or a dot)."""
    if not isinstance(seg, dict):
        return max(seg, key=len).astype(np.float32)
    contours, _ = cv2.findContours(
        decode_rle(seg).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    best = max(contours, key=cv2.contourArea).reshape(-1, 2) if contours else np.zeros((0, 2))
    if len(best) >= 3 and cv2.contourArea(best.astype(np.float32)) > 0:
        return best.astype(np.float32)
    x, y, w, h = (float(v) for v in coco_mask.toBbox(seg))
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def training_polygons(segmentations: list[Segmentation | None] | None) -> list[np.ndarray] | None:
    """``ImageLabels.segments`` for an image's segmentations: None unless every object has
    one."""
    if not segmentations or any(s is None for s in segmentations):
        return None
    return [training_polygon(s) for s in segmentations if s is not None]


_PART_DROPPED = "polygon dropped, and its box if the object has no other part"


class Issue(enum.Enum):
    """Kinds of label problems, with what the reader does about each."""

    NOT_NORMALISED = ("values above 1 in a YOLO label (pixel coordinates?)", "box dropped")
    OUT_OF_RANGE = ("box lies outside the image", "box dropped")
    CLIPPED = ("box or polygon extends past the image border", "clipped to the image")
    DEGENERATE = ("zero or negative width or height", "box dropped")
    BAD_CLASS = ("class id outside the dataset's names", "box dropped")
    MALFORMED = ("line or entry cannot be parsed", "dropped")
    DUPLICATE = ("duplicate label", "dropped")
    MISSING_IMAGE = ("image file not found", "image dropped")
    UNREADABLE_IMAGE = ("image file cannot be read", "image dropped")
    UNREADABLE_LABELS = ("label file cannot be read", "image dropped")
    BACKGROUND = ("image without labels", "kept as background")
    POLYGON_ODD = ("polygon with an odd number of coordinates", _PART_DROPPED)
    POLYGON_SHORT = ("polygon with fewer than 3 points", _PART_DROPPED)
    POLYGON_OUT_OF_RANGE = ("polygon lies outside the image", _PART_DROPPED)
    POLYGON_DEGENERATE = ("polygon encloses no area", _PART_DROPPED)
    POLYGON_SELF_INTERSECTING = ("polygon edges cross each other", "kept, filled as COCO fills it")
    BAD_MASK = ("mask malformed, empty or not of the image's size", "box and mask dropped")

    def __init__(self, description: str, action: str) -> None:
        self.description = description
        self.action = action


@dataclass
class LabelIssue:
    kind: Issue
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message} ({self.kind.action})"


@dataclass
class LabelReport:
    """Problems found while reading one split, and totals."""

    split: str = ""
    images: int = 0
    boxes: int = 0
    issues: list[LabelIssue] = field(default_factory=list)
    masks: int = 0  # boxes with an instance mask

    def add(self, kind: Issue, file: str | Path, message: str, line: int | None = None) -> None:
        self.issues.append(LabelIssue(kind, str(file), line, message))

    @property
    def counts(self) -> Counter[Issue]:
        return Counter(i.kind for i in self.issues)

    @property
    def problems(self) -> list[LabelIssue]:
        """Issues other than background images (which are fine)."""
        return [i for i in self.issues if i.kind is not Issue.BACKGROUND]

    def summary(self) -> str:
        c = self.counts
        head = f"{self.split or 'dataset'}: {self.images} images, {self.boxes} boxes"
        if c[Issue.BACKGROUND]:
            head += f", {c[Issue.BACKGROUND]} background images"
        if self.masks:
            head += f", masks on {self.masks} of {self.boxes} boxes"
        bad = [
            f"{n} {k.name.lower()} ({k.action})" for k, n in c.items() if k is not Issue.BACKGROUND
        ]
        return head + ("; problems: " + ", ".join(bad) if bad else "; no label problems")

    def log(self, limit: int = 10) -> None:
        log.info(self.summary())
        for issue in self.problems[:limit]:
            log.warning("  %s", issue)
        if len(self.problems) > limit:
            log.warning(
                "  ... %d more (all listed in label_issues.txt of the run)",
                len(self.problems) - limit,
            )

    def write(self, path: str | Path) -> None:
        lines = [self.summary(), *map(str, self.issues)]
        Path(path).write_text("\n".join(lines) + "\n")


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, after EXIF orientation (no full decode).

    Raises:
        OSError, UnidentifiedImageError: unreadable file.
    """
    with Image.open(path) as im:
        w, h = im.size
        orientation = im.getexif().get(0x0112, 1)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def probe_image(path: Path, report: LabelReport) -> tuple[int, int] | None:
    """Image size, or None (recorded in ``report``) if it is missing or unreadable."""
    if not path.is_file():
        report.add(Issue.MISSING_IMAGE, path, "image file not found")
        return None
    try:
        w, h = image_size(path)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        report.add(Issue.UNREADABLE_IMAGE, path, f"cannot read image header ({e})")
        return None
    if w < 10 or h < 10:
        report.add(Issue.UNREADABLE_IMAGE, path, f"image too small ({w}x{h})")
        return None
    return w, h


def check_box(
    box: np.ndarray, width: int, height: int, report: LabelReport, file: str, line: int | None
) -> np.ndarray | None:
    """Validate one xyxy pixel box against its image: clip small overhangs, drop the rest.

    A box that lies more than 1 % of the image outside it, or has no area inside it, is
    dropped; a smaller overhang is clipped. Both are recorded in ``report``.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if not np.isfinite([x1, y1, x2, y2]).all() or x2 <= x1 or y2 <= y1:
        report.add(Issue.DEGENERATE, file, f"box {[x1, y1, x2, y2]} has no area", line)
        return None
    tol_x, tol_y = 0.01 * width, 0.01 * height
    if x1 < -tol_x or y1 < -tol_y or x2 > width + tol_x or y2 > height + tol_y:
        report.add(
            Issue.OUT_OF_RANGE,
            file,
            f"box {[round(v, 1) for v in (x1, y1, x2, y2)]} outside the {width}x{height} image",
            line,
        )
        return None
    clipped = np.clip([x1, y1, x2, y2], 0, [width, height, width, height]).astype(np.float32)
    if clipped[2] - clipped[0] < 1e-3 or clipped[3] - clipped[1] < 1e-3:
        report.add(Issue.DEGENERATE, file, "box has no area inside the image", line)
        return None
    if (clipped != np.array([x1, y1, x2, y2], np.float32)).any() and (
        x1 < -1e-3 or y1 < -1e-3 or x2 > width + 1e-3 or y2 > height + 1e-3
    ):
        report.add(Issue.CLIPPED, file, "box extends past the image border", line)
    return clipped


def check_polygon(
    coords: Sequence[float] | np.ndarray,
    width: int,
    height: int,
    report: LabelReport,
    file: str,
    line: int | None,
) -> np.ndarray | None:
    """Validate one polygon part (flat x, y pixel coordinates) against its image.

    Returns the (K, 2) float64 polygon, clipped to the image, or None when it is unusable: an
    odd number of coordinates, fewer than 3 points, a point more than 1 % of the image outside
    it (as :func:`check_box`), non-finite values or no area. Every case, and a clip of more
    than 1e-3 px or edges that cross (kept), is recorded in ``report``.
    """
    values = np.asarray(coords, np.float64).ravel()
    if len(values) % 2:
        report.add(
            Issue.POLYGON_ODD,
            file,
            f"polygon with {len(values)} coordinates: x, y pairs expected (a box has exactly 4)",
            line,
        )
        return None
    if len(values) < 6:
        report.add(Issue.POLYGON_SHORT, file, f"polygon with {len(values) // 2} points", line)
        return None
    points = values.reshape(-1, 2)
    (x1, y1), (x2, y2) = points.min(0).tolist(), points.max(0).tolist()
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        report.add(Issue.POLYGON_DEGENERATE, file, "polygon with non-finite coordinates", line)
        return None
    if x1 < -0.01 * width or y1 < -0.01 * height or x2 > 1.01 * width or y2 > 1.01 * height:
        report.add(
            Issue.POLYGON_OUT_OF_RANGE,
            file,
            f"polygon extent {[round(v, 1) for v in (x1, y1, x2, y2)]} outside the "
            f"{width}x{height} image",
            line,
        )
        return None
    clipped = points
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        clipped = np.clip(points, 0, [width, height])
        if x1 < -1e-3 or y1 < -1e-3 or x2 > width + 1e-3 or y2 > height + 1e-3:
            report.add(Issue.CLIPPED, file, "polygon extends past the image border", line)
    if self_intersecting(clipped):
        report.add(Issue.POLYGON_SELF_INTERSECTING, file, "polygon edges cross each other", line)
    elif polygon_area(clipped) < 1e-3:
        report.add(Issue.POLYGON_DEGENERATE, file, "polygon encloses no area", line)
        return None
    return clipped


def numeric_image_id(path: Path, fallback: int) -> int:
    """COCO convention: ``000000000139.jpg`` -> 139; other names get their position."""
    return int(path.stem) if path.stem.isdigit() else fallback


def pack_segmentations(records: Sequence[ImageLabels]) -> dict[str, np.ndarray]:
    """The records' ``segmentations`` as flat arrays (for the label cache; no pickle)."""
    has, kinds, parts, sizes, points, rle_sizes, rle_lengths = [], [], [], [], [], [], []
    rle_text: list[bytes] = []
    for r in records:
        has.append(r.segmentations is not None)
        for seg in r.segmentations or []:
            if seg is None:
                kinds.append(0)
            elif isinstance(seg, dict):
                kinds.append(2)
                rle_sizes.append(seg["size"])
                rle_text.append(seg["counts"].encode("ascii"))
                rle_lengths.append(len(rle_text[-1]))
            else:
                kinds.append(1)
                parts.append(len(seg))
                sizes += [len(p) for p in seg]
                points += list(seg)
    return {
        "has": np.array(has, bool),
        "kinds": np.array(kinds, np.int8),
        "parts": np.array(parts, np.int64),
        "sizes": np.array(sizes, np.int64),
        "points": np.concatenate(points or [np.zeros((0, 2))]).astype(np.float64),
        "rle_sizes": np.array(rle_sizes, np.int64).reshape(-1, 2),
        "rle_lengths": np.array(rle_lengths, np.int64),
        "rle_text": np.frombuffer(b"".join(rle_text), np.uint8),
    }


def unpack_segmentations(arrays: dict[str, np.ndarray], records: Sequence[ImageLabels]) -> None:
    """Set the records' ``segmentations`` from :func:`pack_segmentations` arrays.

    Raises:
        ValueError: the arrays do not belong to these records.
    """
    expected = sum(len(r.classes) for r, h in zip(records, arrays["has"], strict=False) if h)
    if len(arrays["has"]) != len(records) or len(arrays["kinds"]) != expected:
        raise ValueError("mask cache does not match the label cache")
    kinds = iter(arrays["kinds"].tolist())
    parts = iter(arrays["parts"].tolist())
    sizes = iter(arrays["sizes"].tolist())
    rle_sizes = iter(arrays["rle_sizes"].tolist())
    rle_lengths = iter(arrays["rle_lengths"].tolist())
    text = arrays["rle_text"].tobytes()
    point_at, text_at = 0, 0
    for r, has in zip(records, arrays["has"].tolist(), strict=True):
        if not has:
            r.segmentations = None
            continue
        out: list[Segmentation | None] = []
        for _ in range(len(r.classes)):
            kind = next(kinds)
            if kind == 0:
                out.append(None)
            elif kind == 2:
                n = next(rle_lengths)
                counts = text[text_at : text_at + n].decode("ascii")
                out.append({"size": next(rle_sizes), "counts": counts})
                text_at += n
            else:
                polygon = []
                for _ in range(next(parts)):
                    k = next(sizes)
                    polygon.append(arrays["points"][point_at : point_at + k])
                    point_at += k
                out.append(polygon)
        r.segmentations = out
