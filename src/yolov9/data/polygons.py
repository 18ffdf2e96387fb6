"""Polygon geometry for augmentation: cut a polygon to the image, its box, and the instance
masks of a sample (with occlusion).

Cutting is Sutherland-Hodgman clipping against the image's four sides, so the cut polygon is
exactly (polygon ∩ image) for a polygon that enters the image once; one that enters it several
times gets zero-width bridges along the border between the pieces. The box is the cut
polygon's bounds kept within a pixel of its rasterised mask, so that a speck no pixel shows
cannot stretch it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from yolov9.data.labels import downsample_mask


def clip_half_plane(polygon: np.ndarray, axis: int, value: float, keep_above: bool) -> np.ndarray:
    """One Sutherland-Hodgman step, vectorised: the polygon cut to ``x[axis] >= value``
    (``keep_above``) or ``<= value``; each edge gives its start if inside, then its crossing
    if it crosses."""
    a = np.asarray(polygon, np.float64).reshape(-1, 2)
    if not len(a):
        return a
    b = np.roll(a, -1, 0)
    side = a[:, axis] - value if keep_above else value - a[:, axis]
    inside = side >= 0
    crosses = inside != np.roll(inside, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = side / (side - np.roll(side, -1))
    crossing = a + np.where(crosses, t, 0.0)[:, None] * (b - a)
    crossing[:, axis] = value
    points = np.stack((a, crossing), 1)  # (E, 2, 2): start, crossing
    emit = np.stack((inside, crosses), 1)
    return points[emit]


def clip_polygon(
    polygon: np.ndarray, width: float, height: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """The polygon cut to the ``width`` x ``height`` image (Sutherland-Hodgman on the four
    sides) and the xyxy box of what is left (None when nothing is: the object left the
    image)."""
    cut = np.asarray(polygon, np.float64).reshape(-1, 2)
    # a polygon wholly inside is its own cut: the four steps only for one that is not (most
    # of a mosaic's polygons are inside: the steps were 80 % of a mask sample's cost)
    if not ((cut >= 0).all() and (cut <= (width, height)).all()):
        cut = _cut_to_image(cut, width, height)
    clipped = cut.astype(np.float32)
    if len(cut) < 3:
        return clipped, None
    box = np.concatenate((cut.min(0), cut.max(0))).astype(np.float32)
    if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
        return clipped, None
    return clipped, _visible_box(clipped, box, width, height)


def _cut_to_image(polygon: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman against the image's four sides (float64, possibly empty)."""
    cut = polygon
    for axis, value, above in (
        (0, 0.0, True),
        (0, width, False),
        (1, 0.0, True),
        (1, height, False),
    ):
        cut = clip_half_plane(cut, axis, float(value), above)
    return cut


def _visible_box(
    polygon: np.ndarray, box: np.ndarray, width: float, height: float
) -> np.ndarray | None:
    """``box`` limited to within a pixel of the polygon's rasterised mask (the rule of
    :func:`instance_masks`): a sliver or a speck cut off by the border that no pixel shows
    does not stretch the box; None if no pixel shows at all."""
    x0, y0 = int(np.floor(box[0])), int(np.floor(box[1]))
    x1 = min(int(np.ceil(box[2])), int(np.ceil(width)) - 1)
    y1 = min(int(np.ceil(box[3])), int(np.ceil(height)) - 1)
    canvas = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(canvas, [polygon.astype(np.int32) - np.array([x0, y0], np.int32)], color=1)
    ys, xs = np.nonzero(canvas)
    if not len(xs):
        return None
    shown = np.array([xs.min() + x0, ys.min() + y0, xs.max() + x0 + 1, ys.max() + y0 + 1])
    return np.concatenate(
        (np.maximum(box[:2], shown[:2] - 1), np.minimum(box[2:], shown[2:] + 1))
    ).astype(np.float32)


def instance_masks(
    segments: Sequence[np.ndarray],
    size: tuple[int, int],
    ratio: int,
    *,
    group: np.ndarray | None = None,
    layer: np.ndarray | None = None,
) -> np.ndarray:
    """(N, h // ratio, w // ratio) uint8 masks of polygons on an (h, w) image, as the
    reference rasterises them (filled at full size, downsampled bilinearly), minus what objects
    drawn over them hide: object j hides object i where they share a ``group`` (an image before
    MixUp blended it with another) and ``layer[j] > layer[i]`` (pasted later)."""
    height, width = size
    n = len(segments)
    out = np.zeros((n, height // ratio, width // ratio), np.uint8)
    canvas = np.zeros((height, width), np.uint8)
    for i, polygon in enumerate(segments):
        canvas[:] = 0
        if len(polygon) >= 3:
            cv2.fillPoly(canvas, [np.asarray(polygon).astype(np.int32)], color=1)
        out[i] = downsample_mask(canvas, ratio)
    if n and layer is not None and (layer > 0).any():
        groups = group if group is not None else np.zeros(n, np.int64)
        for i in range(n):
            above = (groups == groups[i]) & (layer > layer[i])
            if above.any():
                out[i] &= ~out[above].max(0).astype(bool)
    return out


def semantic_target(
    segments: Sequence[np.ndarray],
    channels: Sequence[int] | np.ndarray,
    size: tuple[int, int],
    ratio: int,
    num_channels: int,
    *,
    group: np.ndarray | None = None,
    layer: np.ndarray | None = None,
) -> np.ndarray:
    """(num_channels, h // ratio, w // ratio) uint8 multi-hot semantic target of polygons on an
    (h, w) image, each ORed into its channel (things first, then stuff), as the reference
    builds it from its ``stuff/*.txt`` files: every polygon rasterised like an instance mask
    (:func:`instance_masks`), overlapping polygons setting a pixel in several channels, pixels
    under none left all-zero. With ``group`` and ``layer`` (copy-paste), a polygon pasted over
    others hides them, as in the image."""
    height, width = size
    out = np.zeros((num_channels, height // ratio, width // ratio), np.uint8)
    masks = instance_masks(segments, size, ratio, group=group, layer=layer)
    for mask, channel in zip(masks, channels, strict=True):
        out[int(channel)] |= mask
    return out
