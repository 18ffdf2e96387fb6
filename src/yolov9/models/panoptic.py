"""The authors' panoptic head: the segmentation head plus a semantic branch on P3."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from yolov9.models.blocks import ConvBNAct
from yolov9.models.head import HeadOutput
from yolov9.models.segment import SegmentHead


class SemanticBranch(nn.Module):
    """The authors' ``UConv``: 3x3 Conv (c -> c / 4, BN, SiLU), 1x1 conv with bias to the
    semantic channels, bilinear x2 with ``align_corners=True``: logits at stride 4."""

    def __init__(self, c_in: int, channels: int) -> None:
        super().__init__()
        self.conv = ConvBNAct(c_in, c_in // 4, 3)
        self.out = nn.Conv2d(c_in // 4, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(
            self.out(self.conv(x)), scale_factor=2.0, mode="bilinear", align_corners=True
        )


class PanopticHead(SegmentHead):
    """A segmentation head plus :class:`SemanticBranch` on the P3 input over
    ``num_classes + stuff_classes`` channels (things first, in class order, then stuff).

    The authors' ``Panoptic`` is ``Segment`` (ungrouped detection, ``Proto``) plus the branch
    (``grouped=False``). Ours for PGI (``dpanoptic``, ``yolov9-x-pan``): their ``DSegment``
    (grouped detection, the RepNCSPELAN4 prototype branch) plus the same branch, on the main
    and the auxiliary head alike (``docs/architecture.md``, "The PGI panoptic graph").
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: Sequence[int],
        reg_max: int,
        proto: nn.Module,
        *,
        stuff_classes: int,
        num_masks: int = 32,
        grouped: bool = False,
    ) -> None:
        super().__init__(
            num_classes, in_channels, reg_max, proto, grouped=grouped, num_masks=num_masks
        )
        self.stuff_classes = stuff_classes
        self.semantic = SemanticBranch(in_channels[0], num_classes + stuff_classes)

    def forward(self, features: Sequence[Tensor]) -> HeadOutput:
        out = super().forward(features)
        return out._replace(semantic=self.semantic(features[0]))
