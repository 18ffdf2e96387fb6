"""Anchor points of a feature pyramid."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def make_anchors(
    feature_sizes: Sequence[tuple[int, int]],
    strides: Sequence[int],
    *,
    offset: float = 0.5,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Cell-centre anchor points for every level, in stride units.

    Levels are concatenated in the given order (P3, P4, P5) and each level is row-major
    (y then x), which is the order of the flattened head outputs.

    Args:
        feature_sizes: (H, W) of each level's feature map.
        strides: stride of each level in input pixels.
        offset: position of the point inside its cell (0.5 = centre).

    Returns:
        anchor_points: (A, 2) x, y in stride units of their own level.
        stride_tensor: (A, 1) the stride of each anchor.
    """
    points, stride_list = [], []
    for (h, w), stride in zip(feature_sizes, strides, strict=True):
        sx = torch.arange(w, device=device, dtype=dtype) + offset
        sy = torch.arange(h, device=device, dtype=dtype) + offset
        yy, xx = torch.meshgrid(sy, sx, indexing="ij")
        points.append(torch.stack((xx, yy), dim=-1).reshape(-1, 2))
        stride_list.append(torch.full((h * w, 1), float(stride), device=device, dtype=dtype))
    return torch.cat(points), torch.cat(stride_list)
