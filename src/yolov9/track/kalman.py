"""The constant-velocity Kalman filter of SORT-family trackers, in the two forms the published
trackers use: ByteTrack's (centre x, centre y, aspect ratio w/h, height) and BoT-SORT's
(centre x, centre y, width, height). The state is those four values and their velocities;
process and measurement noise scale with the box's size (position weight 1/20, velocity
weight 1/160, as in both papers' code)."""

from __future__ import annotations

import numpy as np
import scipy.linalg

_POS = 1.0 / 20
_VEL = 1.0 / 160


def xyxy_to_measurement(box: np.ndarray, form: str) -> np.ndarray:
    """An xyxy box as the filter's measurement (``xyah`` or ``xywh``)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    cx, cy = x1 + w / 2, y1 + h / 2
    if form == "xyah":
        return np.array([cx, cy, w / max(h, 1e-6), h])
    return np.array([cx, cy, w, h])


def state_to_xyxy(mean: np.ndarray, form: str) -> np.ndarray:
    cx, cy, a, h = (float(v) for v in mean[:4])
    w = a * h if form == "xyah" else a
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


class KalmanFilter:
    """8-d constant-velocity filter; ``form`` is ``"xyah"`` (ByteTrack) or ``"xywh"``
    (BoT-SORT)."""

    def __init__(self, form: str = "xyah") -> None:
        if form not in ("xyah", "xywh"):
            raise ValueError(f"form must be 'xyah' or 'xywh', got {form!r}")
        self.form = form
        self.motion = np.eye(8)
        self.motion[:4, 4:] = np.eye(4)  # x += v (one frame)
        self.update_mat = np.eye(4, 8)

    def _scales(self, values: np.ndarray) -> np.ndarray:
        """Per-coordinate size scale: the height for every coordinate but the aspect ratio
        (``xyah``), or the width for x and w and the height for y and h (``xywh``)."""
        if self.form == "xyah":
            h = values[3]
            return np.array([h, h, 0.0, h])
        w, h = values[2], values[3]
        return np.array([w, h, w, h])

    def _fixed(self, value: float) -> np.ndarray:
        """The aspect ratio's constant noise (``xyah`` only)."""
        return np.array([0.0, 0.0, value, 0.0]) if self.form == "xyah" else np.zeros(4)

    def initiate(self, measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.r_[measurement, np.zeros(4)]
        s = self._scales(measurement)
        std = np.r_[2 * _POS * s + self._fixed(1e-2), 10 * _VEL * s + self._fixed(1e-5)]
        return mean, np.diag(np.square(std))

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = self._scales(mean)
        std = np.r_[_POS * s + self._fixed(1e-2), _VEL * s + self._fixed(1e-5)]
        mean = self.motion @ mean
        cov = self.motion @ cov @ self.motion.T + np.diag(np.square(std))
        return mean, cov

    def project(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        std = _POS * self._scales(mean) + self._fixed(1e-1)
        projected = self.update_mat @ cov @ self.update_mat.T + np.diag(np.square(std))
        return self.update_mat @ mean, projected

    def update(
        self, mean: np.ndarray, cov: np.ndarray, measurement: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        projected_mean, projected_cov = self.project(mean, cov)
        factor = scipy.linalg.cho_factor(projected_cov, lower=True, check_finite=False)
        gain = scipy.linalg.cho_solve(factor, (cov @ self.update_mat.T).T, check_finite=False).T
        mean = mean + gain @ (measurement - projected_mean)
        cov = cov - gain @ projected_cov @ gain.T
        return mean, cov
