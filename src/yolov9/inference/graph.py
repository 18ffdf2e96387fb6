"""The inference graph of a model: what prediction, evaluation and every export run."""

from __future__ import annotations

import copy

import torch

from yolov9.config import INFERENCE_PRECISIONS as PRECISIONS
from yolov9.errors import ConfigError
from yolov9.models import YOLOv9


def inference_graph(
    model: YOLOv9,
    device: torch.device | str = "cpu",
    precision: str = "fp32",
    *,
    channels_last: bool = True,
) -> YOLOv9:
    """A copy of ``model`` for inference: auxiliary branch dropped, eval mode, BatchNorm and
    RepConvN fused, on ``device``; the original is left as it is.

    ``channels_last`` stores the weights in that layout (faster convolutions on CPU and GPU);
    exports keep the default layout. ``fp16`` stores half-precision weights (CUDA only);
    ``bf16`` keeps fp32 weights and is applied by autocast where the graph runs.

    Raises:
        ConfigError: an unknown precision, or fp16 off CUDA.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("fp16 inference needs a CUDA device; use bf16 on the CPU")
    net = copy.deepcopy(model).drop_aux().eval().fuse().float()
    net = net.to(device=device, memory_format=torch.channels_last if channels_last else None)
    return net.half() if precision == "fp16" else net
