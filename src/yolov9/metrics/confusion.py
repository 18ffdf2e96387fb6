"""Confusion matrix of detections against ground truth (with a background class)."""

from __future__ import annotations

import numpy as np
import torch

from yolov9.ops.boxes import box_iou


class ConfusionMatrix:
    """Counts ``matrix[predicted, true]`` over ``C + 1`` classes, the last being background.

    Per image, detections above ``conf`` are matched one-to-one to ground truth with IoU above
    ``iou`` (highest IoU first); unmatched detections count as background-true (false
    positives) and unmatched ground truth as background-predicted (misses).
    """

    def __init__(self, num_classes: int, conf: float = 0.25, iou: float = 0.45) -> None:
        self.num_classes, self.conf, self.iou = num_classes, conf, iou
        self.matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)

    def update(
        self,
        pred_boxes: np.ndarray,
        pred_scores: np.ndarray,
        pred_classes: np.ndarray,
        gt_boxes: np.ndarray,
        gt_classes: np.ndarray,
    ) -> None:
        bg = self.num_classes
        keep = pred_scores >= self.conf
        pred_boxes, pred_classes = pred_boxes[keep], pred_classes[keep]
        if len(gt_classes) == 0:
            np.add.at(self.matrix, (pred_classes, bg), 1)
            return
        if len(pred_classes) == 0:
            np.add.at(self.matrix, (bg, gt_classes), 1)
            return
        iou = box_iou(
            torch.from_numpy(gt_boxes).float(), torch.from_numpy(pred_boxes).float()
        ).numpy()
        gi, pi = np.nonzero(iou > self.iou)
        order = np.argsort(-iou[gi, pi], kind="stable")
        used_g, used_p = set(), set()
        for g, p in zip(gi[order], pi[order], strict=True):
            if g in used_g or p in used_p:
                continue
            used_g.add(g)
            used_p.add(p)
            self.matrix[pred_classes[p], gt_classes[g]] += 1
        for g in set(range(len(gt_classes))) - used_g:
            self.matrix[bg, gt_classes[g]] += 1
        for p in set(range(len(pred_classes))) - used_p:
            self.matrix[pred_classes[p], bg] += 1
