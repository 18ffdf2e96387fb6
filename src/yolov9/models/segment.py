"""Instance-segmentation heads: the detection head plus mask coefficients and prototypes.

A mask is ``sigmoid(coeffs @ protos)``: every anchor predicts ``M`` coefficients (32 in the
authors' models) and the head computes ``M`` prototype masks at stride 4 from P3. Both forms
of the authors' heads are here: ``Segment`` (``Proto`` on P3, ungrouped box branch) and
``DSegment`` (a RepNCSPELAN4 prototype branch, grouped box branch); the PGI auxiliary branch
gets a head of the same kind with its own coefficients and prototypes (``DualDSegment``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from yolov9.models.blocks import ConvBNAct, RepNCSPELAN4
from yolov9.models.head import DetectHead, HeadOutput
from yolov9.models.variants import ElanSpec


class Proto(nn.Module):
    """The authors' ``Proto``: 3x3 conv -> nearest x2 -> 3x3 conv -> 1x1 conv to ``M`` maps."""

    def __init__(self, c_in: int, hidden: int, num_masks: int = 32) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(c_in, hidden, 3)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv2 = ConvBNAct(hidden, hidden, 3)
        self.out = ConvBNAct(hidden, num_masks, 1)

    def forward(self, p3: Tensor) -> Tensor:
        return self.out(self.conv2(self.up(self.conv1(p3))))


class ProtoBranch(nn.Module):
    """``DSegment``'s prototype branch: RepNCSPELAN4 on P3 (width kept) -> nearest x2 -> 3x3
    conv to ``widths.out`` -> 1x1 conv to ``M`` maps. In the authors' files the first three are
    separate model layers (YOLOv9-C-DSEG aux: RepNCSPELAN4(512, 512, 256, 128, 2), Conv 512->256;
    main: RepNCSPELAN4(256, 256, 256, 128, 2), Conv 256->256)."""

    def __init__(self, c_in: int, widths: ElanSpec, depth: int, num_masks: int = 32) -> None:
        super().__init__()
        self.block = RepNCSPELAN4(c_in, c_in, widths.hidden, widths.stage, depth)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = ConvBNAct(c_in, widths.out, 3)
        self.out = ConvBNAct(widths.out, num_masks, 1)

    def forward(self, p3: Tensor) -> Tensor:
        return self.out(self.conv(self.up(self.block(p3))))


class SegmentHead(DetectHead):
    """A detection head (grouped or not) plus, per level, a mask-coefficient branch
    (3x3 conv, 3x3 conv, 1x1 conv with bias -> ``M``; width ``max(c_P3 // 4, M)``) and a
    prototype module on the P3 input."""

    def __init__(
        self,
        num_classes: int,
        in_channels: Sequence[int],
        reg_max: int,
        proto: nn.Module,
        *,
        grouped: bool,
        num_masks: int = 32,
    ) -> None:
        super().__init__(num_classes, in_channels, reg_max, grouped=grouped)
        self.num_masks = num_masks
        c_coef = max(in_channels[0] // 4, num_masks)
        self.coef = nn.ModuleList(
            nn.Sequential(
                ConvBNAct(c, c_coef, 3),
                ConvBNAct(c_coef, c_coef, 3),
                nn.Conv2d(c_coef, num_masks, 1),
            )
            for c in in_channels
        )
        self.proto = proto

    def forward(self, features: Sequence[Tensor]) -> HeadOutput:
        out = super().forward(features)
        coeffs = torch.cat(
            [coef(x).flatten(2) for x, coef in zip(features, self.coef, strict=True)], 2
        )
        return out._replace(coeffs=coeffs.transpose(1, 2), protos=self.proto(features[0]))
