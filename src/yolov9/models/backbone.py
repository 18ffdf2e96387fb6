"""GELAN backbones: the single backbone of T/S/M/C and the dual (CB) backbone of E."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from torch import Tensor, nn

from yolov9.models.blocks import (
    ELAN1,
    AConv,
    ADown,
    CBFuse,
    CBLinear,
    ConvBNAct,
    RepNCSPELAN4,
)
from yolov9.models.variants import BackboneSpec, ElanSpec

Routes = dict[int, list[Tensor]]
"""Routed CBLinear slices per level index (0 = P1 ... 4 = P5), to be added by CBFuse."""


def make_elan(c1: int, spec: ElanSpec) -> RepNCSPELAN4:
    return RepNCSPELAN4(c1, spec.out, spec.hidden, spec.stage, spec.depth)


def make_downsample(kind: str, c1: int, c2: int) -> nn.Module:
    return AConv(c1, c2) if kind == "aconv" else ADown(c1, c2)


class BackboneOutput(NamedTuple):
    """Level outputs P1 ... P5 for the neck, and the levels the PGI auxiliary branch taps."""

    levels: list[Tensor]
    aux_taps: list[Tensor]


class GELANStage(nn.Module):
    """One pyramid level: a downsampling step, optional CBFuse, then an optional GELAN block."""

    def __init__(self, down: nn.Module, block: nn.Module | None = None) -> None:
        super().__init__()
        self.down = down
        self.cb_fuse = CBFuse()
        self.block = block

    def forward(self, x: Tensor, routes: Sequence[Tensor] = ()) -> Tensor:
        x = self.down(x)
        if routes:
            x = self.cb_fuse(routes, x)
        return self.block(x) if self.block is not None else x


class GELANBackbone(nn.Module):
    """Five levels P1 ... P5 (strides 2 ... 32).

    ``routes`` (from :class:`CBLinks`) are added after the downsampling step of their level;
    the PGI auxiliary branch of M/C and backbone 2 of E use them.
    """

    def __init__(self, spec: BackboneSpec, in_channels: int = 3) -> None:
        super().__init__()
        c1, c2 = spec.stem
        if spec.first_block == "elan1":
            b = spec.block2
            block2: nn.Module = ELAN1(c2, b.out, b.hidden, b.stage)
        else:
            block2 = make_elan(c2, spec.block2)
        d3, d4, d5 = spec.down
        s3, s4, s5 = spec.stages
        ds = spec.downsample
        self.p1 = GELANStage(ConvBNAct(in_channels, c1, 3, 2))
        self.p2 = GELANStage(ConvBNAct(c1, c2, 3, 2), block2)
        self.p3 = GELANStage(make_downsample(ds, spec.block2.out, d3), make_elan(d3, s3))
        self.p4 = GELANStage(make_downsample(ds, s3.out, d4), make_elan(d4, s4))
        self.p5 = GELANStage(make_downsample(ds, s4.out, d5), make_elan(d5, s5))
        self.out_channels = spec.level_outputs

    def forward(self, x: Tensor, routes: Routes | None = None) -> BackboneOutput:
        routes = routes or {}
        levels = []
        for i, stage in enumerate((self.p1, self.p2, self.p3, self.p4, self.p5)):
            x = stage(x, routes.get(i, ()))
            levels.append(x)
        return BackboneOutput(levels, levels)


class CBLinks(nn.ModuleList):
    """CBLinear taps on a range of levels of one backbone, producing routes for another.

    The tap on level ``i`` sends one slice to every level ``j <= i`` from ``first`` on, with
    the width of level ``j``'s input in the receiving backbone: deeper levels inform all
    shallower ones (the "multi-level auxiliary information" of PGI).
    """

    def __init__(self, tap_channels: Sequence[int], target_widths: Sequence[int], first: int):
        super().__init__(CBLinear(c, target_widths[: i + 1]) for i, c in enumerate(tap_channels))
        self.first = first

    def forward(self, taps: Sequence[Tensor]) -> Routes:
        routes: Routes = {}
        for link, tap in zip(self, taps, strict=True):
            for j, piece in enumerate(link(tap)):
                routes.setdefault(self.first + j, []).append(piece)
        return routes


class DualBackbone(nn.Module):
    """YOLOv9-E / GELAN-E: backbone ``first`` feeds CBLinear taps on all five levels into
    backbone ``second``, which also starts from the image; the neck reads ``second``."""

    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        self.first = GELANBackbone(spec)
        self.links = CBLinks(spec.level_outputs, spec.level_inputs, first=0)
        self.second = GELANBackbone(spec)
        self.out_channels = self.second.out_channels

    def forward(self, x: Tensor) -> BackboneOutput:
        first = self.first(x).levels
        second = self.second(x, self.links(first)).levels
        return BackboneOutput(second, first)
