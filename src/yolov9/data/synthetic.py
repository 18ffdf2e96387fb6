"""Synthetic detection scenes: coloured shapes on textured backgrounds, with exact boxes.

Used by the demo and the test-suite (no downloads). Each class is a shape; colours, sizes,
positions and backgrounds vary, so a detector has to learn shape, not colour.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle", "star")


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour gradient + blurred noise + a few thin lines."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = (x * rng.uniform(-1, 1) + y * rng.uniform(-1, 1)) / (h + w) + 0.5
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    noise = cv2.GaussianBlur(rng.normal(0, 25, (h, w, 3)).astype(np.float32), (0, 0), 3)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 6)):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.line(img, p1, p2, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    return img


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    if shape == "square":
        k, radii = 4, [r * math.sqrt(2)] * 4
        angle += math.pi / 4
    elif shape == "triangle":
        k, radii = 3, [r * 1.15] * 3
    else:  # star
        k, radii = 10, [r * 1.2 if i % 2 == 0 else r * 0.5 for i in range(10)]
    pts = [
        (
            cx + rad * math.cos(angle + 2 * math.pi * i / k),
            cy + rad * math.sin(angle + 2 * math.pi * i / k),
        )
        for i, rad in enumerate(radii)
    ]
    return np.array(pts, dtype=np.float32)


def make_scene(
    rng: np.random.Generator,
    size: tuple[int, int] = (256, 256),
    *,
    max_objects: int = 6,
    num_classes: int = len(SHAPES),
    min_radius: float = 8.0,
    max_radius: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One RGB scene with 0 ... ``max_objects`` shapes.

    Returns:
        image: (H, W, 3) uint8 RGB.
        boxes: (N, 4) float32 xyxy pixel boxes (tight around each shape, clipped).
        labels: (N,) int64 class ids in [0, num_classes).
    """
    h, w = size
    img = _background(rng, h, w)
    max_r = max_radius or min(h, w) / 5
    boxes, labels = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(0, num_classes))
        r = float(rng.uniform(min_radius, max_r))
        cx, cy = float(rng.uniform(r, w - r)), float(rng.uniform(r, h - r))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        if SHAPES[label % len(SHAPES)] == "circle":
            cv2.circle(img, (round(cx), round(cy)), round(r), colour, -1, cv2.LINE_AA)
            box = [cx - r, cy - r, cx + r, cy + r]
        else:
            pts = _polygon(
                SHAPES[label % len(SHAPES)], cx, cy, r, float(rng.uniform(0, 2 * math.pi))
            )
            cv2.fillPoly(img, [np.round(pts).astype(np.int32)], colour, cv2.LINE_AA)
            box = [*pts.min(0), *pts.max(0)]
        boxes.append(np.clip(box, 0, [w, h, w, h]))
        labels.append(label)
    return img, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)
