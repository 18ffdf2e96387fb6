"""Labelled images and the report of everything wrong with them.

Every format reader produces :class:`ImageLabels` records and fills a :class:`LabelReport`:
each problem is recorded with its file, line (where there is one) and what was done about it.
Nothing is dropped silently.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)


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
        areas: (N,) float32 areas used for the COCO size ranges (segment area in COCO JSON,
            else box area).
        segments: one (K, 2) float32 polygon per box where the labels have polygons, else None.
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


class Issue(enum.Enum):
    """Kinds of label problems, with what the reader does about each."""

    NOT_NORMALISED = ("values above 1 in a YOLO label (pixel coordinates?)", "box dropped")
    OUT_OF_RANGE = ("box lies outside the image", "box dropped")
    CLIPPED = ("box extends past the image border", "clipped to the image")
    DEGENERATE = ("zero or negative width or height", "box dropped")
    BAD_CLASS = ("class id outside the dataset's names", "box dropped")
    MALFORMED = ("line or entry cannot be parsed", "dropped")
    DUPLICATE = ("duplicate label", "dropped")
    MISSING_IMAGE = ("image file not found", "image dropped")
    UNREADABLE_IMAGE = ("image file cannot be read", "image dropped")
    UNREADABLE_LABELS = ("label file cannot be read", "image dropped")
    BACKGROUND = ("image without labels", "kept as background")

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


def numeric_image_id(path: Path, fallback: int) -> int:
    """COCO convention: ``000000000139.jpg`` -> 139; other names get their position."""
    return int(path.stem) if path.stem.isdigit() else fallback
