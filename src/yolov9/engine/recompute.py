"""Activation checkpointing for training: trade compute for memory.

Wrapped modules keep only their inputs during the forward pass and run their forward again
during the backward pass to get the activations they need. Gradients and BatchNorm
statistics are those of the plain model: the second forward runs with every BatchNorm's
momentum at 0 and its batch counter put back, so running statistics are updated once.

Where the memory is: a feature map costs C·H·W floats and a 3x3 convolution over it
9·C²·H·W multiply-adds, so memory per unit of compute is highest at the high-resolution,
narrow levels. ``"highres"`` therefore recomputes the first three levels P1-P3 of every
backbone (the reversible branch's too) and the necks' P3 merges, which hold most of the
activation memory for a fraction of the compute; ``"all"`` recomputes every backbone level,
the necks and the auxiliary branch (the heads excepted).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from yolov9.errors import ConfigError
from yolov9.models.aux import AuxNeckBranch, ReversibleBranch
from yolov9.models.backbone import DualBackbone, GELANBackbone
from yolov9.models.neck import PANNeck, TopDownPath
from yolov9.models.yolov9 import YOLOv9

RECOMPUTE_MODES = ("none", "highres", "all")
_wrapped: weakref.WeakSet[nn.Module] = weakref.WeakSet()
_EARLY = ("p1", "p2", "p3")
_LEVELS = ("p1", "p2", "p3", "p4", "p5")


@contextmanager
def _batchnorm_frozen(module: nn.Module) -> Iterator[None]:
    """BatchNorms in ``module`` normalise with batch statistics but leave their running
    statistics and batch counters as they were."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [
        (m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone())
        for m in norms
    ]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, count) in zip(norms, saved, strict=True):
            m.momentum = momentum
            if count is not None and m.num_batches_tracked is not None:
                m.num_batches_tracked.copy_(count)


def _checkpointed(module: nn.Module, forward: Callable[..., Any], *args: Any) -> Any:
    if not (module.training and torch.is_grad_enabled()):
        return forward(*args)
    return checkpoint(
        forward,
        *args,
        use_reentrant=False,
        context_fn=lambda: (nullcontext(), _batchnorm_frozen(module)),
    )


def recompute(module: nn.Module) -> None:
    """Make ``module`` recompute its activations in the backward pass (in training only; its
    state-dict keys and outputs do not change)."""
    if module in _wrapped:
        return
    module.forward = functools.partial(_checkpointed, module, module.forward)
    _wrapped.add(module)


def _backbones(model: YOLOv9) -> list[GELANBackbone]:
    found = []
    if isinstance(model.backbone, DualBackbone):
        found += [model.backbone.first, model.backbone.second]
    elif isinstance(model.backbone, GELANBackbone):
        found.append(model.backbone)
    if isinstance(model.aux, ReversibleBranch):
        found.append(model.aux.backbone)
    return found


def recomputed_modules(model: YOLOv9, mode: str) -> list[nn.Module]:
    """The modules ``mode`` recomputes (see the module's docstring)."""
    if mode not in RECOMPUTE_MODES:
        raise ConfigError(f"model.recompute must be one of {RECOMPUTE_MODES}, got {mode!r}")
    if mode == "none":
        return []
    levels = _EARLY if mode == "highres" else _LEVELS
    chosen: list[nn.Module] = [getattr(b, name) for b in _backbones(model) for name in levels]
    tops: list[TopDownPath] = []
    if isinstance(model.neck, PANNeck):
        tops.append(model.neck.top_down)
        if mode == "all":
            chosen += [model.neck.merge4, model.neck.merge5]
    if isinstance(model.aux, AuxNeckBranch) and isinstance(model.aux.neck, TopDownPath):
        tops.append(model.aux.neck)
    for top in tops:
        chosen += [top.merge3] if mode == "highres" else [top.spp, top.merge4, top.merge3]
    return chosen


def apply_recompute(model: YOLOv9, mode: str) -> int:
    """Recompute the modules ``mode`` names; returns how many were wrapped."""
    modules = recomputed_modules(model, mode)
    for module in modules:
        recompute(module)
    return len(modules)
