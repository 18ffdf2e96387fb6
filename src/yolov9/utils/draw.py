"""Drawing detections on images."""

from __future__ import annotations

from collections.abc import Sequence

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


def class_colour(label: int) -> tuple[int, int, int]:
    return _PALETTE[label % len(_PALETTE)]


def draw_detections(
    image_rgb: np.ndarray,
    boxes_xyxy: np.ndarray,
    scores: np.ndarray | None,
    labels: np.ndarray,
    names: Sequence[str],
) -> np.ndarray:
    """Return a copy of ``image_rgb`` with boxes and "name score" captions drawn (names only
    when ``scores`` is None, e.g. for ground truth)."""
    out = np.ascontiguousarray(image_rgb.copy())
    h, w = out.shape[:2]
    thickness = max(1, round((h + w) / 600))
    font_scale = max(0.4, thickness / 3)
    shown = scores if scores is not None else [None] * len(labels)
    for box, score, label in zip(boxes_xyxy, shown, labels, strict=True):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        colour = class_colour(int(label))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        name = names[int(label)] if 0 <= int(label) < len(names) else str(int(label))
        caption = name if score is None else f"{name} {float(score):.2f}"
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
