"""Global motion compensation by sparse optical flow (BoT-SORT's camera-motion correction):
corners of the previous frame are followed into this one with pyramidal Lucas-Kanade and a
rotation-scale-translation is fitted to them with RANSAC. A moving camera then no longer
moves every track's prediction away from its object.

Corners are taken outside this frame's detections (and a 2 % border), as BoT-SORT's
feature-based variants do: objects move on their own, and on a plain background their corners
would be most of the points and pass their motion off as the camera's."""

from __future__ import annotations

import logging
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)


class SparseFlowGMC:
    """Frame-to-frame 2x3 affine warp (identity for the first frame or too few points)."""

    def __init__(self, downscale: int = 2) -> None:
        self.downscale = max(1, int(downscale))
        self.prev: np.ndarray | None = None
        self.prev_points: np.ndarray | None = None

    def reset(self) -> None:
        self.prev, self.prev_points = None, None

    def apply(self, image_rgb: np.ndarray, boxes: np.ndarray | None = None) -> np.ndarray:
        """The warp from the previous frame to this one; ``boxes``: this frame's detections
        (xyxy, image pixels), whose pixels give no corners."""
        gray = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
        if self.downscale > 1:
            h, w = gray.shape
            gray = cv2.resize(gray, (w // self.downscale, h // self.downscale))
        h, w = gray.shape
        mask = np.zeros((h, w), np.uint8)
        mask[int(0.02 * h) : int(0.98 * h), int(0.02 * w) : int(0.98 * w)] = 255
        if boxes is not None:
            for x1, y1, x2, y2 in np.asarray(boxes, np.float64).reshape(-1, 4) / self.downscale:
                mask[max(0, int(y1)) : int(np.ceil(y2)), max(0, int(x1)) : int(np.ceil(x2))] = 0
        points = cv2.goodFeaturesToTrack(
            gray, maxCorners=1000, qualityLevel=0.01, minDistance=1, blockSize=3, mask=mask
        )
        warp = np.eye(2, 3)
        prev, prev_points = self.prev, self.prev_points
        self.prev, self.prev_points = gray, points
        if prev is None or prev_points is None or prev.shape != gray.shape:
            return warp
        # OpenCV's stubs differ between releases on the optional output argument
        flow: Any = cv2.calcOpticalFlowPyrLK
        moved, status, _ = flow(prev, gray, prev_points, None)
        good = status.reshape(-1) == 1
        if int(good.sum()) <= 4:
            return warp
        # RANSAC's inlier distance is 0.5 px at the working scale, not OpenCV's 3 px: the final
        # least-squares refit over inliers otherwise takes in background points that a moving
        # object covered or uncovered, and a still camera comes out slightly zooming (a 1 %
        # scale per frame, measured on a still scene, which compounds while a track is lost)
        fitted, _ = cv2.estimateAffinePartial2D(
            prev_points[good], moved[good], method=cv2.RANSAC, ransacReprojThreshold=0.5
        )
        if fitted is None:
            return warp
        fitted[:, 2] *= self.downscale
        return np.asarray(fitted, np.float64)
