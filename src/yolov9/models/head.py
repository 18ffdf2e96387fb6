"""Decoupled, anchor-free detection head with Distribution Focal Loss bins (reference: DDetect,
and its ungrouped form Detect)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from yolov9.models.blocks import ConvBNAct
from yolov9.ops.anchors import make_anchors
from yolov9.ops.boxes import dist2bbox

STRIDES = (8, 16, 32)


class HeadOutput(NamedTuple):
    """Raw predictions of one detection head, flattened over levels P3, P4, P5 (row-major).

    Attributes:
        pred_dist: (B, A, 4·R) DFL logits, side-major: R bins for left, top, right, bottom.
        pred_logits: (B, A, C) class logits.
        anchor_points: (A, 2) anchor centres in stride units of their level.
        stride_tensor: (A, 1) the stride of each anchor in input pixels.
        coeffs: (B, A, M) mask coefficients (segmentation heads; None for detection).
        protos: (B, M, H/4, W/4) prototype masks at stride 4 (segmentation heads).
        semantic: (B, C + S, H/4, W/4) semantic logits over things then stuff at stride 4
            (panoptic heads).
        memory: (B, S, d) the caption head's encoded visual tokens (caption models).
        caption_logits: (B, T, V) next-token logits of the captions given to the forward
            pass (teacher forcing; caption models in training).
    """

    pred_dist: Tensor
    pred_logits: Tensor
    anchor_points: Tensor
    stride_tensor: Tensor
    coeffs: Tensor | None = None
    protos: Tensor | None = None
    semantic: Tensor | None = None
    memory: Tensor | None = None
    caption_logits: Tensor | None = None


class DFL(nn.Module):
    """Expected value of a softmax over ``R`` bins: DFL logits -> distances in stride units.

    The projection 0 ... R-1 is stored as a frozen 1x1-conv weight, exactly as in the authors'
    files (it is saved in checkpoints and counted among the parameters, 16 per head).
    """

    def __init__(self, reg_max: int = 16) -> None:
        super().__init__()
        self.reg_max = reg_max
        self.conv = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(reg_max, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pred_dist: Tensor) -> Tensor:
        """(..., 4·R) logits -> (..., 4) distances (l, t, r, b)."""
        prob = pred_dist.unflatten(-1, (4, self.reg_max)).softmax(-1)
        # (..., R) @ (R, 1), not a 1-D vector: CoreML's converter has no matrix-vector product
        return (prob @ self.conv.weight.view(-1, 1).to(prob.dtype)).squeeze(-1)


def _out_bias(branch: nn.Module) -> Tensor:
    """Bias of a head branch's output layer: the last ``nn.Conv2d`` of its ``nn.Sequential``."""
    assert isinstance(branch, nn.Sequential)
    conv = branch[-1]
    assert isinstance(conv, nn.Conv2d)
    assert conv.bias is not None
    return conv.bias


class DetectHead(nn.Module):
    """Per level: a box branch (3x3 Conv, grouped 3x3 Conv, grouped 1x1 -> 4·R) and a class
    branch (3x3 Conv, 3x3 Conv, 1x1 -> C). Hidden widths are derived from the P3 input only:
    box ``ceil4(max(c_P3 // 4, 4·R, 16))``, class ``max(c_P3, min(2·C, 128))``.

    The four groups of the box branch keep each side's R logits on its own quarter of the
    channels. ``grouped=False`` is the reference's plain ``Detect`` (the authors' ``Segment``
    head builds on it): ungrouped box convolutions and a box width without rounding to 4.
    The forward pass returns raw logits in both train and eval mode; decoding is
    :meth:`decode`, and NMS lives in :mod:`yolov9.ops.nms`.
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: Sequence[int],
        reg_max: int = 16,
        strides: Sequence[int] = STRIDES,
        *,
        grouped: bool = True,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.reg_max = reg_max
        self.strides = tuple(strides)
        c_box = max(in_channels[0] // 4, reg_max * 4, 16)
        c_box, g = (math.ceil(c_box / 4) * 4, 4) if grouped else (c_box, 1)
        c_cls = max(in_channels[0], min(num_classes * 2, 128))
        self.box = nn.ModuleList(
            nn.Sequential(
                ConvBNAct(c, c_box, 3),
                ConvBNAct(c_box, c_box, 3, g=g),
                nn.Conv2d(c_box, 4 * reg_max, 1, groups=g),
            )
            for c in in_channels
        )
        self.cls = nn.ModuleList(
            nn.Sequential(
                ConvBNAct(c, c_cls, 3), ConvBNAct(c_cls, c_cls, 3), nn.Conv2d(c_cls, num_classes, 1)
            )
            for c in in_channels
        )
        self.dfl = DFL(reg_max)
        self.reset_biases()

    @torch.no_grad()
    def reset_biases(self) -> None:
        """Box logits start flat (bias 1); class bias = log prior of ~5 objects per 640² image."""
        for box, cls, s in zip(self.box, self.cls, self.strides, strict=True):
            _out_bias(box).fill_(1.0)
            _out_bias(cls).fill_(math.log(5 / self.num_classes / (640 / s) ** 2))

    def forward(self, features: Sequence[Tensor]) -> HeadOutput:
        dist, logits, sizes = [], [], []
        for x, box, cls in zip(features, self.box, self.cls, strict=True):
            sizes.append((x.shape[2], x.shape[3]))  # symbolic when exported with dynamic axes
            dist.append(box(x).flatten(2))
            logits.append(cls(x).flatten(2))
        points, strides = make_anchors(
            sizes, self.strides, device=features[0].device, dtype=features[0].dtype
        )
        return HeadOutput(
            torch.cat(dist, 2).transpose(1, 2),
            torch.cat(logits, 2).transpose(1, 2),
            points,
            strides,
        )

    def decode(self, out: HeadOutput) -> tuple[Tensor, Tensor]:
        """Raw head output -> (boxes_xyxy (B, A, 4) in input pixels, scores (B, A, C))."""
        boxes = dist2bbox(self.dfl(out.pred_dist), out.anchor_points) * out.stride_tensor
        return boxes, out.pred_logits.sigmoid()
