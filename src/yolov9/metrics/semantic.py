"""Semantic segmentation metrics from a pixel confusion matrix: per-class IoU, mIoU,
frequency-weighted IoU, pixel accuracy, and the mIoU of a subset (stuff).

Rules: ground-truth pixels equal to ``ignore_index`` are left out; a class's IoU is
TP / (TP + FP + FN) over all images together; mIoU averages the classes that appear in the
ground truth or in the prediction (a class absent from both has no IoU, not 0 or 1); FWIoU
weights each class's IoU by its share of the labelled ground-truth pixels. (The reference prints
an "mIoU" divided by the class count twice; this is the usual definition.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from yolov9.errors import DataError


class SemanticConfusion:
    """Accumulates ``matrix[true, predicted]`` pixel counts over images."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.matrix = np.zeros((num_classes, num_classes), np.int64)

    def update(self, predicted: np.ndarray, truth: np.ndarray, where: str = "") -> None:
        """Add one image: (H, W) class maps of the same size."""
        if predicted.shape != truth.shape:
            raise DataError(
                f"{where}: prediction {predicted.shape} and ground truth {truth.shape} differ"
            )
        keep = truth != self.ignore_index
        t, p = truth[keep].astype(np.int64), predicted[keep].astype(np.int64)
        n = self.num_classes
        for name, values in (("ground truth", t), ("prediction", p)):
            if values.size and (values.min() < 0 or values.max() >= n):
                raise DataError(
                    f"{where}: {name} class {int(values.max())} outside 0..{n - 1} (and not "
                    f"the ignore value {self.ignore_index})"
                )
        self.matrix += np.bincount(t * n + p, minlength=n * n).reshape(n, n)

    def iou(self) -> np.ndarray:
        """Per-class IoU; NaN for classes absent from both ground truth and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        union = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / union, np.nan)

    def results(
        self, stuff: Sequence[int] = (), classes: Sequence[int] | None = None
    ) -> dict[str, Any]:
        """``mIoU``, ``FWIoU``, ``pixel_acc`` and, given the stuff classes, ``stuff_mIoU``.

        ``classes``: the classes averaged (default all); the others still count as wrong
        predictions in those classes' IoUs (e.g. a "none of these" prediction column).
        """
        iou = self.iou()
        labelled = self.matrix.sum(1).astype(np.float64)
        total = labelled.sum()
        present = ~np.isnan(iou)
        if classes is not None:
            chosen = np.zeros(self.num_classes, bool)
            chosen[list(classes)] = True
            present &= chosen
        out = {
            "mIoU": float(iou[present].mean()) if present.any() else 0.0,
            "FWIoU": float((labelled[present] * iou[present]).sum() / total) if total else 0.0,
            "pixel_acc": float(np.diag(self.matrix).sum() / total) if total else 0.0,
        }
        if len(stuff):
            s = iou[list(stuff)]
            out["stuff_mIoU"] = float(np.nanmean(s)) if (~np.isnan(s)).any() else 0.0
        return out
