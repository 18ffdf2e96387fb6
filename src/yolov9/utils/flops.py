"""GFLOPs of a model in the convention of the YOLOv9 reference.

The reference (thop) counts multiply-accumulates of convolutions (without bias), one operation
per output element of nearest-neighbour upsampling and 11 per output element of bilinear
upsampling (the panoptic head's ``nn.Upsample``), then doubles (MACs -> FLOPs); pooling,
activations and concatenation count zero. ``torch.utils.flop_counter`` counts convolutions and
matrix products the same way; we add the upsampling rules. CBFuse's resizing is a functional
call in the reference that its counter does not see, so it is excluded here too. The count
runs on the ``meta`` device, so it costs no memory or compute.

The reference prints the unfused count when it builds a model; thop then also counts four
operations per output element of each affine BatchNorm (``batchnorm=True``, ``fuse=False``
reproduces that figure: gelan-c-pan's 148.1).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _elements(shape: Any) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _upsample_flops(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return 2 * _elements(out_shape)


def _bilinear_flops(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return 2 * 11 * _elements(out_shape)


def count_gflops(
    model: nn.Module,
    imgsz: int | tuple[int, int] = 640,
    *,
    fuse: bool = True,
    batchnorm: bool = False,
) -> float:
    """GFLOPs of one forward pass of ``model`` on a (1, 3, H, W) input.

    ``fuse=True`` counts the inference form (BN folded, RepConvN merged), as the reference does.
    ``batchnorm`` adds thop's four operations per affine BatchNorm output element (unfused).
    The model itself is not modified.
    """
    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    meta = copy.deepcopy(model).to("meta").eval()
    if fuse and hasattr(meta, "fuse"):
        meta.fuse()
    counter = FlopCounterMode(
        display=False,
        # The overload keeps the op from being decomposed; the packet is what gets counted.
        custom_mapping={
            torch.ops.aten.upsample_nearest2d: _upsample_flops,
            torch.ops.aten.upsample_nearest2d.default: _upsample_flops,
            torch.ops.aten.upsample_bilinear2d: _bilinear_flops,
            torch.ops.aten.upsample_bilinear2d.default: _bilinear_flops,
        },
    )
    norm_elements = [0]

    def count_norm(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        norm_elements[0] += output.numel()

    hooks = [
        m.register_forward_hook(count_norm)
        for m in meta.modules()
        if batchnorm and isinstance(m, nn.BatchNorm2d)
    ]
    with counter, torch.no_grad():
        meta(torch.empty(1, 3, h, w, device="meta"))
    for hook in hooks:
        hook.remove()
    cb_fuse_names = {n for n, m in meta.named_modules() if type(m).__name__ == "CBFuse"}
    excluded = sum(
        sum(ops.values())
        for name, ops in counter.get_flop_counts().items()
        if name.split(".", 1)[-1] in cb_fuse_names
    )
    return (counter.get_total_flops() - excluded + 2 * 4 * norm_elements[0]) / 1e9
