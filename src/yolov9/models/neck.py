"""Path-aggregation neck (SPPELAN + top-down + bottom-up) and its top-down half."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from yolov9.models.backbone import make_downsample, make_elan
from yolov9.models.blocks import SPPELAN, upsample2x
from yolov9.models.variants import NeckSpec


class TopDownPath(nn.Module):
    """SPPELAN on P5, then two (upsample, concat lateral, RepNCSPELAN4) merges.

    Returns (N3, N4, N5): the P3 merge, the P4 merge and the SPPELAN output.
    Also used alone as the PGI auxiliary neck of T, S and E.
    """

    def __init__(self, spec: NeckSpec, in_channels: Sequence[int]) -> None:
        super().__init__()
        c3, c4, c5 = in_channels
        self.spp = SPPELAN(c5, spec.spp[0], spec.spp[1])
        self.merge4 = make_elan(spec.spp[0] + c4, spec.top4)
        self.merge3 = make_elan(spec.top4.out + c3, spec.top3)

    def forward(self, p3: Tensor, p4: Tensor, p5: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n5 = self.spp(p5)
        n4 = self.merge4(torch.cat((upsample2x(n5), p4), 1))
        n3 = self.merge3(torch.cat((upsample2x(n4), p3), 1))
        return n3, n4, n5


class PANNeck(nn.Module):
    """Top-down path followed by a bottom-up path; outputs the P3, P4, P5 head inputs."""

    def __init__(self, spec: NeckSpec, in_channels: Sequence[int], downsample: str) -> None:
        super().__init__()
        self.top_down = TopDownPath(spec, in_channels)
        self.down4 = make_downsample(downsample, spec.top3.out, spec.down4)
        self.merge4 = make_elan(spec.down4 + spec.top4.out, spec.bottom4)
        self.down5 = make_downsample(downsample, spec.bottom4.out, spec.down5)
        self.merge5 = make_elan(spec.down5 + spec.spp[0], spec.bottom5)
        self.out_channels = spec.out_channels

    def forward(self, p3: Tensor, p4: Tensor, p5: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n3, n4, n5 = self.top_down(p3, p4, p5)
        o4 = self.merge4(torch.cat((self.down4(n3), n4), 1))
        o5 = self.merge5(torch.cat((self.down5(o4), n5), 1))
        return n3, o4, o5
