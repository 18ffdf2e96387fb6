"""Association: IoU costs, score fusion and the thresholded optimal assignment."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of xyxy boxes."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(-1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def fuse_score(cost: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """IoU cost weighted by detection confidence: ``1 - (1 - cost) * score``."""
    if cost.size == 0:
        return cost
    return 1.0 - (1.0 - cost) * np.asarray(scores)[None, :]


def linear_assignment(
    cost: np.ndarray, threshold: float
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Minimum-cost matching in which no pair costs more than ``threshold``.

    Solved exactly like ``lap.lapjv(cost, extend_cost=True, cost_limit=threshold)``, which the
    published trackers call: the matrix is extended so that leaving a row and a column
    unmatched costs ``threshold`` together, and the optimum of the extended problem is taken.

    Returns:
        (row, column) pairs, unmatched rows, unmatched columns.
    """
    n, m = cost.shape
    if n == 0 or m == 0:
        return [], list(range(n)), list(range(m))
    ext = np.full((n + m, n + m), threshold / 2.0)
    ext[n:, m:] = 0.0
    ext[:n, :m] = cost
    rows, cols = linear_sum_assignment(ext)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if r < n and c < m]
    pairs = [(r, c) for r, c in pairs if cost[r, c] <= threshold]
    matched_r = {r for r, _ in pairs}
    matched_c = {c for _, c in pairs}
    return (
        pairs,
        [r for r in range(n) if r not in matched_r],
        [c for c in range(m) if c not in matched_c],
    )
