"""Blocks: output shapes, and fusion equal to the unfused forward."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import randomize_
from yolov9.models.blocks import (
    ELAN1,
    SPPELAN,
    AConv,
    ADown,
    CBFuse,
    CBLinear,
    ConvBNAct,
    RepConvN,
    RepNCSPELAN4,
    fuse_model,
)


@pytest.mark.parametrize(
    ("block", "c_out", "scale"),
    [
        (ConvBNAct(8, 16, 3, 2), 16, 2),
        (RepConvN(8, 16), 16, 1),
        (RepNCSPELAN4(8, 24, 16, 8, 2), 24, 1),
        (ELAN1(8, 16, 16, 8), 16, 1),
        (AConv(8, 12), 12, 2),
        (ADown(8, 12), 12, 2),
        (SPPELAN(8, 16, 4), 16, 1),
    ],
)
def test_output_shape(block: torch.nn.Module, c_out: int, scale: int) -> None:
    y = block(torch.rand(2, 8, 32, 48))
    assert y.shape == (2, c_out, 32 // scale, 48 // scale)


@pytest.mark.parametrize(
    "block",
    [ConvBNAct(8, 16, 3), RepConvN(8, 16), RepNCSPELAN4(8, 24, 16, 8, 2), ADown(8, 12)],
)
def test_fuse_equals_unfused(block: torch.nn.Module) -> None:
    randomize_(block).eval()
    x = torch.randn(2, 8, 20, 20)
    with torch.no_grad():
        expected = block(x)
        actual = fuse_model(block)(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in block.modules())
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)


def test_repconvn_fuses_to_one_3x3_conv() -> None:
    block = randomize_(RepConvN(4, 6)).eval()
    block.fuse()
    convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1
    assert convs[0].kernel_size == (3, 3)
    assert sum(p.numel() for p in block.parameters()) == 9 * 4 * 6 + 6


def test_cblinear_splits_and_cbfuse_adds_resized_routes() -> None:
    link = CBLinear(4, [2, 3])
    a, b = link(torch.rand(1, 4, 8, 8))
    assert a.shape == (1, 2, 8, 8)
    assert b.shape == (1, 3, 8, 8)
    route = torch.arange(4.0).view(1, 1, 2, 2)
    out = CBFuse()([route], torch.ones(1, 1, 4, 4))
    assert out[0, 0].tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
