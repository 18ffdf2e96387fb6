"""Optimiser groups, nominal-batch accumulation, warm-up and LR schedules, EMA."""

from __future__ import annotations

import math

import pytest
import torch

from yolov9.engine.ema import ModelEMA
from yolov9.engine.optim import (
    accumulation_steps,
    apply_warmup,
    build_optimizer,
    lr_factor,
    parameter_groups,
    warmup_iterations,
)
from yolov9.models import build_model


def test_parameter_groups() -> None:
    model = build_model("yolov9-t", num_classes=3)
    biases, weights, norms = parameter_groups(model)
    assert all(p.ndim == 1 for p in biases + norms)
    assert all(p.ndim == 4 for p in weights)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for g in (biases, weights, norms) for p in g) == trainable  # no DFL


@pytest.mark.parametrize(
    ("batch", "accumulate", "decay"),
    [(16, 4, 5e-4), (8, 8, 5e-4), (128, 1, 1e-3), (48, 1, 3.75e-4)],
)
def test_nominal_batch(batch: int, accumulate: int, decay: float) -> None:
    assert accumulation_steps(batch, 64) == accumulate
    assert 5e-4 * batch * accumulate / 64 == pytest.approx(decay)


def test_warmup_trajectory_for_batch_16() -> None:
    model = build_model("gelan-t", num_classes=2)
    opt = build_optimizer(model, "sgd", 0.01, 0.937, 5e-4)
    nw = warmup_iterations(3.0, 50)
    assert nw == 150
    lf = lr_factor("linear", 500, 0.01)
    kw = {"bias_lr": 0.1, "momentum": (0.8, 0.937), "accumulate": (1, 4)}
    assert apply_warmup(opt, 0, nw, lf(0), **kw) == 1
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.0, 0.0]
    assert opt.param_groups[1]["momentum"] == pytest.approx(0.8)
    assert apply_warmup(opt, 75, nw, lf(1), **kw) == 2  # 2.5 rounds to even
    assert apply_warmup(opt, nw, nw, lf(2), **kw) == 4
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.01 * lf(2)] * 3)
    assert opt.param_groups[2]["momentum"] == pytest.approx(0.937)
    assert warmup_iterations(3.0, 10) == 100


def test_schedules() -> None:
    linear = lr_factor("linear", 500, 0.01)
    assert linear(0) == 1.0
    assert linear(499) == pytest.approx(0.002 * 0.99 + 0.01)  # 0.01198
    assert linear(500) == pytest.approx(0.01)
    cosine = lr_factor("cosine", 100, 0.01)
    assert cosine(0) == pytest.approx(1.0)
    assert cosine(50) == pytest.approx((1 + 0.01) / 2)
    assert cosine(100) == pytest.approx(0.01)
    flat = lr_factor("flat-cosine", 100, 0.01)
    assert flat(49) == 1.0
    assert flat(100) == pytest.approx(0.01)


def test_ema_ramp_and_update() -> None:
    model = torch.nn.Linear(2, 2)
    ema = ModelEMA(model, decay=0.9999, tau=2000)
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update(model)
    d = 0.9999 * (1 - math.exp(-1 / 2000))
    assert ema.current_decay() == pytest.approx(d)
    expected = ema.model.weight  # after update
    assert torch.allclose(expected, (model.weight - 1.0) * d + model.weight * (1 - d))
