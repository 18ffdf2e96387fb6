"""What every exporter shares: the graph that is exported (:class:`ExportGraph`, where the
PyTorch model's decoding ends), the export options and the report. The exporters
(``export.py`` for ONNX/OpenVINO/TorchScript, ``ncnn.py``, ``litert.py``, ``coreml.py``) import
it; ``export.py`` dispatches to them, so the arrows point one way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from yolov9.models import YOLOv9
from yolov9.tasks.registry import get_task


class ExportGraph(nn.Module):
    """images (B, 3, H, W) in [0, 1] -> boxes (B, A, 4) xyxy pixels, scores (B, A, C), and
    for segmentation models coefficients (B, A, M) and prototypes (B, M, H/4, W/4), for
    panoptic models the semantic logits (B, C + S, H/4, W/4), for caption models the caption
    head's encoded visual tokens (B, S, d): the outputs the task names, in its order."""

    def __init__(self, model: YOLOv9) -> None:
        super().__init__()
        self.model = model
        self.output_names = get_task(model.task).outputs

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        main = self.model(images).main
        boxes, scores = self.model.head.decode(main)
        found = {
            "boxes": boxes,
            "scores": scores,
            "coefficients": main.coeffs,
            "prototypes": main.protos,
            "semantic": main.semantic,
            "caption_memory": main.memory,
        }
        out = tuple(found[name] for name in self.output_names)
        assert all(t is not None for t in out), "the model lacks an output its task names"
        return out  # type: ignore[return-value]


@dataclass
class ExportOptions:
    format: str = "onnx"
    imgsz: int = 640
    dynamic: bool = False  # dynamic batch (and image size) instead of 1 x imgsz x imgsz
    half: bool = False  # fp16 weights
    nms: bool = False  # NMS inside the graph (ONNX NonMaxSuppression)
    max_det: int = 100
    conf: float = 0.25
    iou: float = 0.45
    multi_label: bool = False
    simplify: bool = True
    opset: int = 18
    int8: bool = False  # OpenVINO post-training quantisation (needs ``data``)
    data: str | None = None
    calibration_images: int = 300
    # NNCF preset (docs/benchmarks.md, gelan-t at 640 on 2 AVX-512 cores; AP on our small-data
    # model): performance, symmetric activations: 2.1x faster than fp32, -0.7 AP; mixed,
    # asymmetric activations: 1.3x, -0.2 AP.
    int8_preset: str = "performance"
    # with a value: NNCF accuracy control keeps the most sensitive layers in float until the
    # AP (0-1 scale, as printed) on the validation split is within this of fp32
    int8_max_drop: float | None = None
    # score fp32 and INT8 on ``data``'s validation split (which must have the model's
    # classes); off: calibrate only (e.g. on generated images, for timing)
    int8_check: bool = True


@dataclass
class ExportReport:
    path: Path
    format: str
    max_diff: dict[str, float]  # vs PyTorch on a test image
    notes: list[str]
    metrics: dict[str, Any] | None = None  # INT8: AP before and after
