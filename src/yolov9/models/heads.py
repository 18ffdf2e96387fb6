"""Build the head of a model's kind (main and auxiliary heads alike)."""

from __future__ import annotations

from collections.abc import Sequence

from yolov9.errors import ConfigError
from yolov9.models.head import DetectHead
from yolov9.models.panoptic import PanopticHead
from yolov9.models.segment import Proto, ProtoBranch, SegmentHead
from yolov9.models.variants import HEAD_KINDS, ElanSpec, HeadKind


def build_head(
    kind: HeadKind,
    num_classes: int,
    in_channels: Sequence[int],
    reg_max: int = 16,
    proto_widths: ElanSpec | None = None,
) -> DetectHead:
    """The head of ``kind`` over levels of ``in_channels``; segmentation heads take their
    prototype widths from ``proto_widths`` (the size's neck P3 block)."""
    if kind.name in ("detect", "caption"):  # a caption model's caption head is its own part
        return DetectHead(num_classes, in_channels, reg_max)
    if kind.name not in HEAD_KINDS or proto_widths is None:
        raise ConfigError(f"unknown head {kind.name!r}; known: {', '.join(HEAD_KINDS)}")
    m = kind.num_masks
    if kind.name == "segment":
        proto = Proto(in_channels[0], proto_widths.out, m)
        return SegmentHead(num_classes, in_channels, reg_max, proto, grouped=False, num_masks=m)
    if kind.name == "panoptic":
        proto = Proto(in_channels[0], proto_widths.out, m)
        return PanopticHead(
            num_classes, in_channels, reg_max, proto, stuff_classes=kind.stuff_classes, num_masks=m
        )
    branch = ProtoBranch(in_channels[0], proto_widths, kind.proto_depth, m)
    if kind.name == "dpanoptic":
        return PanopticHead(
            num_classes,
            in_channels,
            reg_max,
            branch,
            stuff_classes=kind.stuff_classes,
            num_masks=m,
            grouped=True,
        )
    return SegmentHead(num_classes, in_channels, reg_max, branch, grouped=True, num_masks=m)
