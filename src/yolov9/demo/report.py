"""What a demo's new scene shows against its truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from yolov9.data.synthetic import SHAPES
from yolov9.ops.boxes import box_iou

__all__ = ["SCENE_CONF", "describe_scene", "scene_report"]

SCENE_CONF = 0.5  # the new scene is drawn at a confidence a user would trust


def scene_report(
    boxes: np.ndarray,
    labels: np.ndarray,
    pred_boxes: Any,
    pred_labels: Any,
    pred_scores: Any,
    names: tuple[str, ...] = SHAPES,
) -> dict[str, Any]:
    """What a picture shows against its truth: each true shape is *found* when a detection of
    its class covers it (IoU > 0.5), *misnamed* when only a detection of another class does,
    else *missed*; detections that cover no shape are *false*."""
    pred_labels, pred_scores = np.asarray(pred_labels), np.asarray(pred_scores)
    covers = (
        box_iou(
            torch.as_tensor(np.asarray(boxes, np.float32).reshape(-1, 4)),
            torch.as_tensor(np.asarray(pred_boxes, np.float32).reshape(-1, 4)),
        ).numpy()
        > 0.5
    )  # (shapes, detections)
    used: set[int] = set()
    found, misnamed, missed = [], [], []
    for row, label in zip(covers, labels, strict=True):
        same = [j for j in np.flatnonzero(row) if pred_labels[j] == label and j not in used]
        other = [j for j in np.flatnonzero(row) if pred_labels[j] != label]
        name = names[int(label)]
        if same:
            j = max(same, key=lambda k: pred_scores[k])
            used.add(j)
            found.append(f"{name} {pred_scores[j]:.2f}")
        elif other:
            used.update(other)
            misnamed.append(f"{name} as {names[int(pred_labels[other[0]])]}")
        else:
            missed.append(name)
    false = [
        f"{names[int(pred_labels[j])]} {pred_scores[j]:.2f}"
        for j in np.flatnonzero(~covers.any(0))
        if j not in used
    ]
    return {
        "shapes": len(boxes),
        "found": found,
        "misnamed": misnamed,
        "missed": missed,
        "false": false,
    }


def describe_scene(size: tuple[int, int], seen: dict[str, Any], noun: str = "shapes") -> str:
    """Step 4's account of a :func:`scene_report` on an (h, w) scene."""
    return (
        f"4. a new {size[1]}x{size[0]} scene with {seen['shapes']} {noun}, at confidence >= "
        f"{SCENE_CONF:.2f}: {len(seen['found'])} found and correctly named "
        f"({', '.join(seen['found']) or 'none'}); misnamed: {', '.join(seen['misnamed']) or 'none'}"
        f"; missed: {', '.join(seen['missed']) or 'none'}; false detections: "
        f"{', '.join(seen['false']) or 'none'}"
    )
