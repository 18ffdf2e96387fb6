"""The result of inference on one image: detections in that image's pixels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yolov9.utils.draw import draw_detections


@dataclass
class Result:
    """Detections of one image, in that image's pixel coordinates.

    Attributes:
        boxes: (N, 4) float32 xyxy boxes.
        scores: (N,) float32 confidences, descending.
        labels: (N,) int64 class ids.
        names: class names, indexed by class id.
        orig_shape: (h, w) of the image.
        path: source file, if any; ``frame``, ``fps``: index and frame rate inside a video.
        image: the RGB image itself (kept for :meth:`plot`).
        masks: per-detection instance masks, for segmentation models (None for detection).
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    names: list[str]
    orig_shape: tuple[int, int]
    path: str | None = None
    frame: int | None = None
    fps: float | None = None
    image: np.ndarray | None = field(default=None, repr=False)
    masks: Any | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per detection."""
        return [
            {
                "file": self.path,
                "frame": self.frame,
                "box": [round(float(v), 2) for v in box],
                "score": round(float(score), 5),
                "class_id": int(label),
                "class_name": self.names[int(label)],
            }
            for box, score, label in zip(self.boxes, self.scores, self.labels, strict=True)
        ]

    def plot(self) -> np.ndarray:
        """The image (RGB) with the detections drawn."""
        if self.image is None:
            raise ValueError("this result keeps no image to draw on")
        return draw_detections(self.image, self.boxes, self.scores, self.labels, self.names)

    def save(self, path: str | Path) -> Path:
        """Write the annotated image (format from the suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), cv2.cvtColor(self.plot(), cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {path}")
        return path
