"""GFLOPs of a model in the convention of the YOLOv9 reference.

The reference counts multiply-accumulates of convolutions (without bias) and one operation per
output element of nearest-neighbour upsampling, then doubles (MACs -> FLOPs); pooling,
activations and concatenation count zero. ``torch.utils.flop_counter`` counts convolutions and
matrix products the same way; we add the upsampling rule. CBFuse's resizing is a functional
call in the reference that its counter does not see, so it is excluded here too. The count
runs on the ``meta`` device, so it costs no memory or compute.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def _upsample_flops(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    n = 1
    for d in out_shape:
        n *= int(d)
    return 2 * n


def count_gflops(
    model: nn.Module, imgsz: int | tuple[int, int] = 640, *, fuse: bool = True
) -> float:
    """GFLOPs of one forward pass of ``model`` on a (1, 3, H, W) input.

    ``fuse=True`` counts the inference form (BN folded, RepConvN merged), as the reference does.
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
        },
    )
    with counter, torch.no_grad():
        meta(torch.empty(1, 3, h, w, device="meta"))
    cb_fuse_names = {n for n, m in meta.named_modules() if type(m).__name__ == "CBFuse"}
    excluded = sum(
        sum(ops.values())
        for name, ops in counter.get_flop_counts().items()
        if name.split(".", 1)[-1] in cb_fuse_names
    )
    return (counter.get_total_flops() - excluded) / 1e9
