"""Training augmentations (the reference recipe): mosaic, copy-paste, random affine, MixUp,
HSV jitter and flips. Each is a function of (image, labels, rng): images are RGB uint8,
boxes xyxy pixels, and every random draw comes from the given ``numpy.random.Generator``,
so a sample depends only on (seed, epoch, index).

Panoptic labels ride along: stuff regions as polygons (``Labels.stuff``), moved as the
objects' polygons are but never dropped as too small nor copy-pasted, and semantic label maps
(``Labels.semantic``) warped with the image by nearest neighbour, what comes from outside the
image (padding, the mosaic's canvas) being ``VOID``. No label map draws a random number, so
the images and boxes of a sample are the same with or without them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from yolov9.data.augment import AugmentConfig
from yolov9.data.images import PAD_VALUE
from yolov9.data.polygons import clip_polygon

VOID = 65535  # label-map value of pixels with no label (void, padding): never a target


@dataclass
class Labels:
    """Boxes (N, 4) xyxy pixels, classes (N,), and one polygon (K, 2) per box or None.

    ``group`` and ``layer`` (N,) record occlusion for the masks: an object pasted over others
    (copy-paste) has a higher layer than those it hides, in the same group (MixUp blends two
    groups, which hide nothing of each other).

    Panoptic data: ``stuff`` (N,) marks polygons that are stuff regions, not objects (their
    class is their semantic channel); ``semantic`` holds label maps of the image's size
    (uint16 semantic channel per pixel, ``VOID`` for none), one per blended image (MixUp).
    """

    boxes: np.ndarray
    classes: np.ndarray
    segments: list[np.ndarray] | None = None
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    layer: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    stuff: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    semantic: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.classes = np.asarray(self.classes, np.int64).reshape(-1)
        n = len(self.classes)
        self.group = np.asarray(self.group, np.int64).reshape(-1)
        self.layer = np.asarray(self.layer, np.int64).reshape(-1)
        if len(self.group) != n:
            self.group = np.zeros(n, np.int64)
        if len(self.layer) != n:
            self.layer = np.zeros(n, np.int64)
        self.stuff = np.asarray(self.stuff, bool).reshape(-1)
        if len(self.stuff) != n:
            self.stuff = np.zeros(n, bool)

    def select(self, keep: np.ndarray) -> Labels:
        segs = [s for s, k in zip(self.segments, keep, strict=True) if k] if self.segments else None
        if self.segments is not None and segs is None:
            segs = []
        return Labels(
            self.boxes[keep],
            self.classes[keep],
            segs,
            self.group[keep],
            self.layer[keep],
            self.stuff[keep],
            self.semantic,
        )

    def moved(
        self,
        boxes: np.ndarray,
        segments: list[np.ndarray] | None,
        semantic: list[np.ndarray] | None = None,
    ) -> Labels:
        """The same objects at new places (and the label maps, when given, moved too)."""
        return Labels(
            boxes,
            self.classes,
            segments,
            self.group,
            self.layer,
            self.stuff,
            self.semantic if semantic is None else semantic,
        )

    @property
    def things(self) -> np.ndarray:
        """(N,) bool: the objects (boxes and instance masks), not stuff regions."""
        return ~self.stuff

    @staticmethod
    def concat(parts: list[Labels]) -> Labels:
        segs = None
        if parts and all(p.segments is not None for p in parts):
            segs = [s for p in parts for s in p.segments or []]
        boxes = np.concatenate([p.boxes for p in parts]) if parts else np.zeros((0, 4))
        classes = np.concatenate([p.classes for p in parts]) if parts else np.zeros(0)
        group = np.concatenate([p.group for p in parts]) if parts else np.zeros(0)
        layer = np.concatenate([p.layer for p in parts]) if parts else np.zeros(0)
        stuff = np.concatenate([p.stuff for p in parts]) if parts else np.zeros(0, bool)
        semantic = [m for p in parts for m in p.semantic]
        return Labels(boxes, classes, segs, group, layer, stuff, semantic)


def hsv_jitter(
    image: np.ndarray, gains: tuple[float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """Multiply hue, saturation and value by 1 + U(-1, 1) * gain (OpenCV HSV, hue in 0-179)."""
    if not any(gains):
        return image
    r = rng.uniform(-1, 1, 3) * np.array(gains) + 1
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV))
    x = np.arange(256, dtype=np.float64)
    lut_h = ((x * r[0]) % 180).astype(np.uint8)
    lut_s = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * r[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def flip_lr(image: np.ndarray, labels: Labels) -> tuple[np.ndarray, Labels]:
    w = image.shape[1]
    boxes = labels.boxes.copy()
    boxes[:, [0, 2]] = w - labels.boxes[:, [2, 0]]
    segs = (
        [np.stack((w - s[:, 0], s[:, 1]), 1) for s in labels.segments]
        if labels.segments is not None
        else None
    )
    maps = [np.ascontiguousarray(m[:, ::-1]) for m in labels.semantic]
    return np.ascontiguousarray(image[:, ::-1]), labels.moved(boxes, segs, maps)


def flip_ud(image: np.ndarray, labels: Labels) -> tuple[np.ndarray, Labels]:
    h = image.shape[0]
    boxes = labels.boxes.copy()
    boxes[:, [1, 3]] = h - labels.boxes[:, [3, 1]]
    segs = (
        [np.stack((s[:, 0], h - s[:, 1]), 1) for s in labels.segments]
        if labels.segments is not None
        else None
    )
    maps = [np.ascontiguousarray(m[::-1]) for m in labels.semantic]
    return np.ascontiguousarray(image[::-1]), labels.moved(boxes, segs, maps)


def box_candidates(
    before: np.ndarray,
    after: np.ndarray,
    *,
    min_side: float = 2,
    max_aspect: float = 100,
    min_area_ratio: float = 0.1,
    eps: float = 1e-16,
) -> np.ndarray:
    """Boxes to keep after a warp: sides above ``min_side`` px, aspect below ``max_aspect``,
    and at least ``min_area_ratio`` of the (scaled) area they had before."""
    w1, h1 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w2, h2 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    aspect = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (
        (w2 > min_side)
        & (h2 > min_side)
        & (w2 * h2 / (w1 * h1 + eps) > min_area_ratio)
        & (aspect < max_aspect)
    )


def random_affine(
    image: np.ndarray,
    labels: Labels,
    rng: np.random.Generator,
    spec: AugmentConfig,
    border: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, Labels]:
    """Rotate, scale, shear, translate (and perspective) about the image centre; output size
    is the input's shrunk by ``2 * border`` (the mosaic passes -s/2 to cut 2s -> s)."""
    height = image.shape[0] + border[0] * 2
    width = image.shape[1] + border[1] * 2
    centre = np.eye(3)
    centre[0, 2], centre[1, 2] = -image.shape[1] / 2, -image.shape[0] / 2
    persp = np.eye(3)
    persp[2, 0] = rng.uniform(-spec.perspective, spec.perspective)
    persp[2, 1] = rng.uniform(-spec.perspective, spec.perspective)
    rot = np.eye(3)
    angle = rng.uniform(-spec.degrees, spec.degrees)
    s = rng.uniform(1 - spec.scale, 1 + spec.scale)
    rot[:2] = cv2.getRotationMatrix2D(angle=angle, center=(0, 0), scale=s)
    shear = np.eye(3)
    shear[0, 1] = math.tan(math.radians(rng.uniform(-spec.shear, spec.shear)))
    shear[1, 0] = math.tan(math.radians(rng.uniform(-spec.shear, spec.shear)))
    move = np.eye(3)
    move[0, 2] = rng.uniform(0.5 - spec.translate, 0.5 + spec.translate) * width
    move[1, 2] = rng.uniform(0.5 - spec.translate, 0.5 + spec.translate) * height
    m = move @ shear @ rot @ persp @ centre
    if border != (0, 0) or (m != np.eye(3)).any():
        image = _warp(image, m, (width, height), spec.perspective, (PAD_VALUE,) * 3)
        maps = [_warp(x, m, (width, height), spec.perspective, VOID) for x in labels.semantic]
        labels = labels.moved(labels.boxes, labels.segments, maps)
    n = len(labels.classes)
    if n == 0:
        return image, labels
    use_segments = labels.segments is not None
    if use_segments:
        # straight edges stay straight under the warp: the vertices suffice (no resampling)
        new_boxes = np.zeros((n, 4), np.float32)
        new_segs = []
        for i, seg in enumerate(labels.segments or []):
            pts = np.concatenate((seg, np.ones((len(seg), 1), np.float32)), 1) @ m.T
            pts = pts[:, :2] / pts[:, 2:3] if spec.perspective else pts[:, :2]
            clipped, box = clip_polygon(pts, width, height)
            if box is not None:
                new_boxes[i] = box
            new_segs.append(clipped)
    else:
        corners = labels.boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(n * 4, 2)
        pts = np.concatenate((corners, np.ones((n * 4, 1), np.float32)), 1) @ m.T
        pts = (pts[:, :2] / pts[:, 2:3] if spec.perspective else pts[:, :2]).reshape(n, 8)
        xs, ys = pts[:, [0, 2, 4, 6]], pts[:, [1, 3, 5, 7]]
        new_boxes = np.stack((xs.min(1), ys.min(1), xs.max(1), ys.max(1)), 1)
        new_boxes[:, [0, 2]] = new_boxes[:, [0, 2]].clip(0, width)
        new_boxes[:, [1, 3]] = new_boxes[:, [1, 3]].clip(0, height)
        new_segs = None
    keep = box_candidates(
        labels.boxes * s, new_boxes, min_area_ratio=0.01 if use_segments else 0.10
    )
    # a stuff region stays while any of it is in the image, however small
    visible = (new_boxes[:, 2] > new_boxes[:, 0]) & (new_boxes[:, 3] > new_boxes[:, 1])
    keep |= labels.stuff & visible
    return image, labels.moved(new_boxes, new_segs).select(keep)


def _warp(
    image: np.ndarray,
    m: np.ndarray,
    size: tuple[int, int],
    perspective: float,
    fill: int | tuple[int, ...],
) -> np.ndarray:
    """An image (bilinear) or a uint16 label map (nearest neighbour) through ``m``."""
    label_map = image.dtype == np.uint16
    flags = cv2.INTER_NEAREST if label_map else cv2.INTER_LINEAR
    if perspective:
        return cv2.warpPerspective(image, m, dsize=size, flags=flags, borderValue=fill)
    return cv2.warpAffine(image, m[:2], dsize=size, flags=flags, borderValue=fill)


def mosaic4(
    tiles: list[tuple[np.ndarray, Labels]], size: int, rng: np.random.Generator
) -> tuple[np.ndarray, Labels]:
    """Four images around a random centre of a 2s x 2s canvas (grey 114), labels clipped."""
    s = size
    yc, xc = (int(rng.uniform(s / 2, 3 * s / 2)) for _ in range(2))
    canvas = np.full((2 * s, 2 * s, 3), PAD_VALUE, np.uint8)
    label_canvas = (
        np.full((2 * s, 2 * s), VOID, np.uint16) if any(t[1].semantic for t in tiles) else None
    )
    parts = []
    for i, (img, labels) in enumerate(tiles):
        h, w = img.shape[:2]
        if i == 0:  # top left
            x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
            x1b, y1b, x2b, y2b = w - (x2a - x1a), h - (y2a - y1a), w, h
        elif i == 1:  # top right
            x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, 2 * s), yc
            x1b, y1b, x2b, y2b = 0, h - (y2a - y1a), min(w, x2a - x1a), h
        elif i == 2:  # bottom left
            x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(2 * s, yc + h)
            x1b, y1b, x2b, y2b = w - (x2a - x1a), 0, w, min(y2a - y1a, h)
        else:  # bottom right
            x1a, y1a, x2a, y2a = xc, yc, min(xc + w, 2 * s), min(2 * s, yc + h)
            x1b, y1b, x2b, y2b = 0, 0, min(w, x2a - x1a), min(y2a - y1a, h)
        canvas[y1a:y2a, x1a:x2a] = img[y1b:y2b, x1b:x2b]
        if label_canvas is not None and labels.semantic:
            label_canvas[y1a:y2a, x1a:x2a] = labels.semantic[0][y1b:y2b, x1b:x2b]
        dx, dy = x1a - x1b, y1a - y1b
        shifted = labels.boxes + np.array([dx, dy, dx, dy], np.float32)
        segs = None
        visible = np.ones(len(shifted), bool)
        if labels.segments is not None:
            segs = []
            for k, seg in enumerate(labels.segments):  # the box of what is visible
                clipped, box = clip_polygon(seg + np.array([dx, dy], np.float32), 2 * s, 2 * s)
                visible[k] = box is not None
                shifted[k] = box if box is not None else 0
                segs.append(clipped)
        parts.append(labels.moved(shifted, segs).select(visible))
    merged = Labels.concat(parts)
    merged.boxes = merged.boxes.clip(0, 2 * s)
    merged.semantic = [label_canvas] if label_canvas is not None else []
    return canvas, merged


def _ioa(box: np.ndarray, boxes: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Intersection of ``box`` with each of ``boxes``, over the area of each of ``boxes``."""
    iw = (np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])).clip(0)
    ih = (np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])).clip(0)
    return iw * ih / ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) + eps)


def copy_paste(
    image: np.ndarray, labels: Labels, p: float, rng: np.random.Generator
) -> tuple[np.ndarray, Labels]:
    """Paste mirrored copies of ``round(p * n)`` random objects where their mirrored box covers
    less than 30 % of every existing box. Needs polygons; a no-op for box-only labels."""
    things = np.flatnonzero(labels.things)
    n = len(things)
    if not p or not n or labels.segments is None:
        return image, labels
    w = image.shape[1]
    mask = np.zeros(image.shape[:2], np.uint8)
    boxes, classes, segs = list(labels.boxes), list(labels.classes), list(labels.segments)
    group, layer = list(labels.group), list(labels.layer)
    thing_boxes = list(labels.boxes[things])  # stuff regions do not block a paste
    top = int(labels.layer.max(initial=0))
    for j in things[rng.choice(n, size=round(p * n), replace=False)]:
        x1, y1, x2, y2 = labels.boxes[j]
        mirrored = np.array([w - x2, y1, w - x1, y2], np.float32)
        if (_ioa(mirrored, np.array(thing_boxes)) < 0.30).all():
            boxes.append(mirrored)
            thing_boxes.append(mirrored)
            classes.append(labels.classes[j])
            segs.append(np.stack((w - labels.segments[j][:, 0], labels.segments[j][:, 1]), 1))
            group.append(labels.group[j])
            top += 1
            layer.append(top)  # over everything before it
            cv2.drawContours(mask, [labels.segments[j].astype(np.int32)], -1, 1, cv2.FILLED)
    if len(thing_boxes) == n:
        return image, labels
    flipped_mask = cv2.flip(mask, 1).astype(bool)
    out = image.copy()
    out[flipped_mask] = cv2.flip(image, 1)[flipped_mask]
    maps = []
    for label_map in labels.semantic:  # the pasted pixels carry their labels with them
        pasted = label_map.copy()
        pasted[flipped_mask] = cv2.flip(label_map, 1)[flipped_mask]
        maps.append(pasted)
    stuff = np.concatenate([labels.stuff, np.zeros(len(boxes) - len(labels.stuff), bool)])
    return out, Labels(
        np.array(boxes), np.array(classes), segs, np.array(group), np.array(layer), stuff, maps
    )


def mixup(
    a: tuple[np.ndarray, Labels], b: tuple[np.ndarray, Labels], rng: np.random.Generator
) -> tuple[np.ndarray, Labels]:
    """Blend two images with r ~ Beta(32, 32) and keep both label sets (their objects show
    through each other: different occlusion groups)."""
    r = rng.beta(32.0, 32.0)
    image = (a[0] * r + b[0] * (1 - r)).astype(np.uint8)
    first, second = a[1], b[1]
    offset = int(first.group.max(initial=-1)) + 1
    second = Labels(
        second.boxes,
        second.classes,
        second.segments,
        second.group + offset,
        second.layer,
        second.stuff,
        second.semantic,
    )
    return image, Labels.concat([first, second])
