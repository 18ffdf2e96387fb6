"""Object detection: boxes and class scores, scored by COCO box AP."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from yolov9.config import LossConfig
from yolov9.data.images import LetterboxInfo
from yolov9.data.synthetic import make_scene
from yolov9.loss import YOLOv9Loss
from yolov9.models import YOLOv9
from yolov9.ops.nms import Detections
from yolov9.tasks.base import (
    BOX_NMS_OUTPUTS,
    BOX_OUTPUTS,
    DemoSpec,
    PostprocessOptions,
    Task,
    box_criterion_args,
)


def _criterion(model: YOLOv9, loss: LossConfig) -> nn.Module:
    return YOLOv9Loss(model.num_classes, **box_criterion_args(model, loss))


def _no_fields(
    det: Detections, input_shape: tuple[int, int], info: LetterboxInfo, options: PostprocessOptions
) -> dict[str, Any]:
    return {}  # boxes, scores and labels are every task's


def _scene(
    rng: np.random.Generator, size: tuple[int, int], max_radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return make_scene(rng, size, max_radius=max_radius)


DETECT = Task(
    name="detect",
    description="detection",
    head_kinds=("detect",),
    labels=("boxes",),
    loss_terms=("box", "cls", "dfl"),
    build_criterion=_criterion,
    outputs=BOX_OUTPUTS,
    nms_outputs=BOX_NMS_OUTPUTS,
    reference_outputs=("output0",),  # (B, 4 + C, A): xywh and scores
    metrics=("bbox",),
    fitness="AP",
    result_fields=(),
    postprocess=_no_fields,
    beyond_vision_nms="",
    demo=DemoSpec(
        model="gelan-t",  # at this budget its cheaper step beats PGI (docs/benchmarks.md)
        imgsz=224,
        epochs=50,
        train_images=160,
        val_images=40,
        batch=8,
        lr0=0.003,
        val_every=10,
        masks=False,
        scene=_scene,
    ),
)
