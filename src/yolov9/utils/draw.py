"""Drawing detections on images."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

# 20 well-separated colours (RGB), cycled by class id.
_PALETTE = [
    (255, 56, 56),
    (255, 157, 151),
    (255, 112, 31),
    (255, 178, 29),
    (207, 210, 49),
    (72, 249, 10),
    (146, 204, 23),
    (61, 219, 134),
    (26, 147, 52),
    (0, 212, 187),
    (44, 153, 168),
    (0, 194, 255),
    (52, 69, 147),
    (100, 115, 255),
    (0, 24, 236),
    (132, 56, 255),
    (82, 0, 133),
    (203, 56, 255),
    (255, 149, 200),
    (255, 55, 199),
]


MASK_ALPHA = 0.45

# One detection's mask: a full (H, W) bool array, or a bool crop and its (top, left) in the image.
MaskItem = np.ndarray | tuple[np.ndarray, tuple[int, int]]


def class_colour(label: int) -> tuple[int, int, int]:
    return _PALETTE[label % len(_PALETTE)]


def _draw_masks(
    out: np.ndarray,
    masks: Sequence[MaskItem] | Callable[[int], MaskItem],
    labels: Sequence[int] | np.ndarray,
    alpha: float,
) -> None:
    """Blend each mask into ``out`` (in place) in its class colour; the last detection is
    drawn first, so the first (highest-scoring) one ends on top. Masks are fetched one at a
    time and only their crop is touched."""
    h, w = out.shape[:2]
    n = len(labels)
    if not callable(masks) and len(masks) != n:
        raise ValueError(f"{len(masks)} masks for {n} detections")
    for i in reversed(range(n)):
        item = masks(i) if callable(masks) else masks[i]
        if isinstance(item, tuple):
            crop, (top, left) = item
        else:
            crop, top, left = item, 0, 0
            if crop.shape != (h, w):
                raise ValueError(f"mask {i} has shape {crop.shape}, the image is {(h, w)}")
        crop = np.asarray(crop, dtype=bool)
        if crop.size == 0:
            continue
        region = out[top : top + crop.shape[0], left : left + crop.shape[1]]
        if region.shape[:2] != crop.shape:
            raise ValueError(f"mask {i} at ({top}, {left}) leaves the {h}x{w} image")
        colour = np.array(class_colour(int(labels[i])), np.float32)
        pixels = region[crop].astype(np.float32)
        region[crop] = (pixels * (1.0 - alpha) + colour * alpha + 0.5).astype(np.uint8)


def draw_detections(
    image_rgb: np.ndarray,
    boxes_xyxy: np.ndarray,
    scores: np.ndarray | None,
    labels: np.ndarray,
    names: Sequence[str],
    masks: Sequence[MaskItem] | Callable[[int], MaskItem] | None = None,
    mask_alpha: float = MASK_ALPHA,
    track_ids: Sequence[int] | np.ndarray | None = None,
) -> np.ndarray:
    """Return a copy of ``image_rgb`` with boxes and "name score" captions drawn (names only
    when ``scores`` is None, e.g. for ground truth).

    ``masks``, one per detection, are blended first (class colour, ``mask_alpha`` opacity),
    boxes and captions on top. Each is a (H, W) bool array or a ``(crop, (top, left))`` pair
    placing a bool crop in the image; pass a callable ``i -> mask`` to produce them one at a
    time (memory stays bounded by one mask).

    With ``track_ids`` (tracking), captions start with ``#id`` and each track has its own
    colour (its mask too).
    """
    out = np.ascontiguousarray(image_rgb.copy())
    keys = labels if track_ids is None else np.asarray(track_ids)
    if masks is not None:
        _draw_masks(out, masks, keys, mask_alpha)
    h, w = out.shape[:2]
    thickness = max(1, round((h + w) / 600))
    font_scale = max(0.4, thickness / 3)
    shown = scores if scores is not None else [None] * len(labels)
    ids = [None] * len(labels) if track_ids is None else [int(t) for t in track_ids]
    for box, score, label, key, tid in zip(boxes_xyxy, shown, labels, keys, ids, strict=True):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        colour = class_colour(int(key))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        name = names[int(label)] if 0 <= int(label) < len(names) else str(int(label))
        caption = name if score is None else f"{name} {float(score):.2f}"
        if tid is not None:
            caption = f"#{tid} {caption}"
        (tw, th), base = cv2.getTextSize(caption, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        ty = y1 - th - base - 2 if y1 - th - base - 2 >= 0 else y1
        cv2.rectangle(out, (x1, ty), (x1 + tw + 2, ty + th + base + 2), colour, -1)
        cv2.putText(
            out,
            caption,
            (x1 + 1, ty + th + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return out


REGION_ALPHA = 0.4


def draw_regions(
    image_rgb: np.ndarray,
    regions: np.ndarray,
    names: Sequence[str],
    colour_keys: Sequence[int],
    alpha: float = REGION_ALPHA,
) -> np.ndarray:
    """Return a copy of ``image_rgb`` with translucent regions (stuff, semantic classes), each
    named at its most interior pixel.

    Args:
        regions: (H, W) int map, 0 outside every region, ``i`` in region ``i`` (1-based).
        names: the name of region ``i`` at ``names[i - 1]``.
        colour_keys: the palette key of each region (its class), as ``class_colour`` takes.
    """
    out = np.ascontiguousarray(image_rgb.copy())
    if regions.shape != out.shape[:2]:
        raise ValueError(f"regions of shape {regions.shape} for a {out.shape[:2]} image")
    if len(names) != len(colour_keys):
        raise ValueError(f"{len(names)} names for {len(colour_keys)} regions")
    palette = np.zeros((len(names) + 1, 3), np.float32)
    for i, key in enumerate(colour_keys, start=1):
        palette[i] = class_colour(int(key))
    inside = regions > 0
    blended = out[inside].astype(np.float32) * (1.0 - alpha) + palette[regions[inside]] * alpha
    out[inside] = (blended + 0.5).astype(np.uint8)
    h, w = out.shape[:2]
    font_scale = max(0.4, max(1, round((h + w) / 600)) / 3)
    for i, name in enumerate(names, start=1):
        mask = (regions == i).astype(np.uint8)
        if not mask.any():
            continue
        # the pixel farthest from the region's border: inside even for a ring or a U shape
        dist = cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        y, x = np.unravel_index(int(dist.argmax()), dist.shape)
        (tw, th), base = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        x0 = int(min(max(0, x - tw // 2), max(0, w - tw - 2)))
        y0 = int(min(max(th + 2, y + th // 2), h - base - 1))
        cv2.rectangle(out, (x0, y0 - th - 2), (x0 + tw + 2, y0 + base), (40, 40, 40), -1)
        cv2.putText(
            out,
            name,
            (x0 + 1, y0 - 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return out


def draw_trails(
    image_rgb: np.ndarray, trails: dict[int, Sequence[tuple[float, float]]]
) -> np.ndarray:
    """Draw each track's recent centres (oldest first) as a polyline in its colour, in
    place; returns the image."""
    h, w = image_rgb.shape[:2]
    thickness = max(1, round((h + w) / 800))
    for tid, points in trails.items():
        if len(points) < 2:
            continue
        pts = np.round(np.asarray(points, np.float32)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(image_rgb, [pts], False, class_colour(int(tid)), thickness, cv2.LINE_AA)
    return image_rgb


def draw_caption(image_rgb: np.ndarray, text: str) -> np.ndarray:
    """Return a copy of ``image_rgb`` with ``text`` written across its top, on a darkened band,
    wrapped to the image's width (the size of the image does not change)."""
    out = np.ascontiguousarray(image_rgb.copy())
    h, w = out.shape[:2]
    font_scale = max(0.35, min(h, w) / 900)
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        fits = cv2.getTextSize(trial, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)[0][0] <= w - 6
        if lines and fits:
            lines[-1] = trial
        else:
            lines.append(word)
    (_, th), base = cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
    step = th + base + 3
    band = min(h, step * len(lines) + 4)
    out[:band] = (out[:band] * 0.35).astype(out.dtype)
    for i, line in enumerate(lines):
        y = 2 + th + i * step
        if y > h:
            break
        cv2.putText(
            out, line, (3, y), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 1, cv2.LINE_AA
        )
    return out
