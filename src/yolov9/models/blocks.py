"""GELAN building blocks (YOLOv9 paper, Sec. 4 and Fig. 4).

Class names follow the paper and the authors' checkpoints (``RepNCSPELAN4``, ``ELAN1``,
``ADown`` ...) and so do the names of their sub-modules (``cv1`` ... ``cv4``, ``m``), so that
a state-dict key such as ``cv2.0.m.0.cv1.conv1.conv.weight`` reads the same here, in the
paper's figures and in the published files. Every block that can be simplified for inference
has a ``fuse()`` method; :func:`fuse_model` calls them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BN_EPS = 1e-3  # the reference overwrites every BatchNorm with these values after building
BN_MOMENTUM = 0.03


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Weight and bias of one conv equal to conv followed by BN in eval mode."""
    # None only with track_running_stats=False, which the blocks never use
    assert bn.running_mean is not None
    assert bn.running_var is not None
    std = (bn.running_var + bn.eps).sqrt()
    scale = bn.weight / std
    weight = conv.weight * scale.reshape(-1, 1, 1, 1)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return weight, bias


class ConvBNAct(nn.Module):
    """Conv2d (no bias) -> BatchNorm -> SiLU; the reference calls it ``Conv``."""

    def __init__(
        self,
        c1: int,
        c2: int,
        k: int = 1,
        s: int = 1,
        p: int | None = None,
        g: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2 if p is None else p, groups=g, bias=False)
        self.bn: nn.Module = nn.BatchNorm2d(c2, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act: nn.Module = nn.SiLU() if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the BatchNorm into the convolution (adds a bias, removes 2·c2 - c2 params)."""
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        weight, bias = _fold_bn(self.conv, self.bn)
        c = self.conv
        # Conv2d stores 2-tuples, but torch annotates these _ConvNd attributes as tuple[int, ...]
        k, s = cast("tuple[int, int]", c.kernel_size), cast("tuple[int, int]", c.stride)
        p = cast("str | tuple[int, int]", c.padding)
        fused = nn.Conv2d(c.in_channels, c.out_channels, k, s, p, groups=c.groups).to(weight)
        fused.weight.copy_(weight)
        assert fused.bias is not None
        fused.bias.copy_(bias)
        fused.requires_grad_(c.weight.requires_grad)
        self.conv, self.bn = fused, nn.Identity()


class RepConvN(nn.Module):
    """Re-parameterisable conv: 3x3 Conv-BN + 1x1 Conv-BN, summed, SiLU (no identity branch).

    ``fuse()`` merges both branches into one 3x3 convolution with bias.
    """

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1, g: int = 1) -> None:
        super().__init__()
        if k != 3:
            raise ValueError("RepConvN supports only k=3")
        self.conv1 = ConvBNAct(c1, c2, 3, s, 1, g, act=False)
        self.conv2: ConvBNAct | None = ConvBNAct(c1, c2, 1, s, 0, g, act=False)
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv1(x)
        if self.conv2 is not None:
            y = y + self.conv2(x)
        return self.act(y)

    @torch.no_grad()
    def fuse(self) -> None:
        if self.conv2 is None:
            return
        self.conv1.fuse()
        self.conv2.fuse()
        c1, c2 = self.conv1.conv, self.conv2.conv
        assert c1.bias is not None
        assert c2.bias is not None
        c1.weight.add_(F.pad(c2.weight, [1, 1, 1, 1]))
        c1.bias.add_(c2.bias)
        self.conv2 = None


class RepNBottleneck(nn.Module):
    """Residual bottleneck: RepConvN 3x3 -> Conv 3x3, plus the input when shapes allow."""

    def __init__(
        self,
        c1: int,
        c2: int,
        shortcut: bool = True,
        g: int = 1,
        k: tuple[int, int] = (3, 3),
        e: float = 1.0,
    ) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = RepConvN(c1, c_, k[0], 1)
        self.cv2 = ConvBNAct(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: Tensor) -> Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class RepNCSP(nn.Module):
    """CSP block: ``n`` RepNBottlenecks on one half-width path, a 1x1 shortcut path, 1x1 merge."""

    def __init__(
        self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5
    ) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = ConvBNAct(c1, c_, 1, 1)
        self.cv2 = ConvBNAct(c1, c_, 1, 1)
        self.cv3 = ConvBNAct(2 * c_, c2, 1)
        self.m = nn.Sequential(*(RepNBottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: Tensor) -> Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class _ELANSplitMerge(nn.Module):
    """Shared ELAN wiring: ``cv1`` 1x1, split in halves (a, b); u = cv2(b); v = cv3(u);
    ``cv4`` 1x1 over concat(a, b, u, v). Subclasses choose what cv2 and cv3 are."""

    cv1: ConvBNAct
    cv2: nn.Module
    cv3: nn.Module
    cv4: ConvBNAct

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.cv1(x).chunk(2, 1)
        u = self.cv2(b)
        v = self.cv3(u)
        return self.cv4(torch.cat((a, b, u, v), 1))


class RepNCSPELAN4(_ELANSplitMerge):
    """GELAN block: 1x1 split into two halves, two (RepNCSP -> 3x3 Conv) stages on the second
    half, and a 1x1 merge of the four partial outputs (paper Fig. 4(d), CSP-ELAN flavour).

    Args:
        c1: input channels.
        c2: output channels.
        c3: channels after the first 1x1 (split into two halves of ``c3 // 2``).
        c4: channels of each computational stage.
        c5: RepNBottlenecks per RepNCSP (the block depth).
    """

    def __init__(self, c1: int, c2: int, c3: int, c4: int, c5: int = 1) -> None:
        super().__init__()
        self.cv1 = ConvBNAct(c1, c3, 1, 1)
        self.cv2 = nn.Sequential(RepNCSP(c3 // 2, c4, c5), ConvBNAct(c4, c4, 3, 1))
        self.cv3 = nn.Sequential(RepNCSP(c4, c4, c5), ConvBNAct(c4, c4, 3, 1))
        self.cv4 = ConvBNAct(c3 + 2 * c4, c2, 1, 1)


class ELAN1(_ELANSplitMerge):
    """Light GELAN block of the T and S models: the same wiring as RepNCSPELAN4, but each
    computational stage is a single 3x3 Conv."""

    def __init__(self, c1: int, c2: int, c3: int, c4: int) -> None:
        super().__init__()
        self.cv1 = ConvBNAct(c1, c3, 1, 1)
        self.cv2 = ConvBNAct(c3 // 2, c4, 3, 1)
        self.cv3 = ConvBNAct(c4, c4, 3, 1)
        self.cv4 = ConvBNAct(c3 + 2 * c4, c2, 1, 1)


class AConv(nn.Module):
    """Downsampling by 2: 2x2 average pool (stride 1) then a 3x3 stride-2 Conv."""

    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.cv1 = ConvBNAct(c1, c2, 3, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.cv1(F.avg_pool2d(x, 2, 1, 0, False, True))


class ADown(nn.Module):
    """Downsampling by 2 in two halves: 3x3 stride-2 Conv on one, 3x3 max-pool + 1x1 Conv on
    the other, after a shared 2x2 stride-1 average pool."""

    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        c = c2 // 2
        self.cv1 = ConvBNAct(c1 // 2, c, 3, 2, 1)
        self.cv2 = ConvBNAct(c1 // 2, c, 1, 1, 0)

    def forward(self, x: Tensor) -> Tensor:
        a, b = F.avg_pool2d(x, 2, 1, 0, False, True).chunk(2, 1)
        return torch.cat((self.cv1(a), self.cv2(F.max_pool2d(b, 3, 2, 1))), 1)


class SPPELAN(nn.Module):
    """Spatial pyramid pooling, ELAN style: 1x1, three chained 5x5 max-pools, concat, 1x1."""

    def __init__(self, c1: int, c2: int, c3: int, k: int = 5) -> None:
        super().__init__()
        self.k = k
        self.cv1 = ConvBNAct(c1, c3, 1, 1)
        self.cv5 = ConvBNAct(4 * c3, c2, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(F.max_pool2d(y[-1], self.k, 1, self.k // 2))
        return self.cv5(torch.cat(y, 1))


class CBLinear(nn.Module):
    """1x1 conv with bias whose output is split into one slice per target level (PGI routing)."""

    def __init__(self, c1: int, c2s: Sequence[int]) -> None:
        super().__init__()
        self.c2s = list(c2s)
        self.conv = nn.Conv2d(c1, sum(self.c2s), 1, 1, 0, bias=True)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        return tuple(self.conv(x).split(self.c2s, dim=1))


class CBFuse(nn.Module):
    """Nearest-resize every routed CBLinear slice to the target's size and add them to it."""

    def forward(self, routes: Sequence[Tensor], target: Tensor) -> Tensor:
        size = target.shape[2:]
        resized = [F.interpolate(r, size=size, mode="nearest") for r in routes]
        return torch.stack([*resized, target]).sum(0)


def upsample2x(x: Tensor) -> Tensor:
    """Nearest-neighbour upsampling by 2 (the reference's ``nn.Upsample(None, 2, 'nearest')``)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def fuse_model(model: nn.Module) -> nn.Module:
    """Fuse every Conv-BN pair and every RepConvN of ``model`` in place, for inference.

    RepConvN first (it folds its own Conv-BN branches), then the remaining Conv-BN units.
    A fused graph is for inference only, so its activations also run in place (one less
    allocation and memory pass per layer).
    """
    for m in list(model.modules()):
        if isinstance(m, RepConvN):
            m.fuse()
    for m in list(model.modules()):
        if isinstance(m, ConvBNAct):
            m.fuse()
        if isinstance(m, nn.SiLU):
            m.inplace = True
    return model
