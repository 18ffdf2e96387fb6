"""Activation checkpointing: same gradients and BatchNorm statistics, fewer saved tensors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from yolov9.engine.recompute import RECOMPUTE_MODES, apply_recompute, recomputed_modules
from yolov9.errors import ConfigError
from yolov9.models import build_model


def _flat(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flat(o)]
    return []


def _step(model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    loss = sum(t.float().pow(2).mean() for t in _flat(model(images)))
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _saved_bytes(model: nn.Module, images: torch.Tensor) -> int:
    """Bytes of the tensors autograd keeps for the backward pass."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(images)
    return total


@pytest.mark.parametrize(
    ("name", "mode"),
    [
        ("yolov9-t", "highres"),
        ("yolov9-t", "all"),
        ("yolov9-t-pan", "all"),  # the semantic branch too
        pytest.param("yolov9-c", "all", marks=pytest.mark.slow),  # the reversible branch
    ],
)
def test_recompute_keeps_gradients_and_batchnorm_statistics(name: str, mode: str) -> None:
    torch.manual_seed(0)
    plain = build_model(name, 3).train()
    wrapped = copy.deepcopy(plain)
    assert apply_recompute(wrapped, mode) > 0
    images = torch.rand(2, 3, 64, 64)
    expected, got = _step(plain, images), _step(wrapped, images)
    assert expected.keys() == got.keys()
    for key, grad in expected.items():
        torch.testing.assert_close(got[key], grad, rtol=1e-5, atol=1e-7, msg=key)
    # running statistics and batch counters updated once, as without recomputing
    buffers = dict(wrapped.named_buffers())
    for key, value in plain.named_buffers():
        torch.testing.assert_close(buffers[key], value, rtol=0, atol=0, msg=key)
    assert wrapped.state_dict().keys() == plain.state_dict().keys()


def test_recompute_saves_memory_and_is_off_in_eval() -> None:
    torch.manual_seed(0)
    plain = build_model("yolov9-t", 3).train()
    images = torch.rand(2, 3, 128, 128)
    sizes = {}
    for mode in RECOMPUTE_MODES:
        model = copy.deepcopy(plain)
        apply_recompute(model, mode)
        sizes[mode] = _saved_bytes(model, images)
    assert sizes["all"] < sizes["highres"] < 0.8 * sizes["none"]
    model = copy.deepcopy(plain)
    apply_recompute(model, "all")
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            model(images).main.pred_dist, plain.eval()(images).main.pred_dist
        )


def test_recompute_covers_the_reversible_branch_and_rejects_unknown_modes() -> None:
    model = build_model("yolov9-c", 3)
    assert model.aux is not None
    chosen = recomputed_modules(model, "highres")
    assert model.aux.backbone.p1 in chosen
    assert model.backbone.p3 in chosen
    assert model.backbone.p4 not in chosen
    with pytest.raises(ConfigError, match=r"model\.recompute"):
        recomputed_modules(model, "some")


@pytest.mark.slow  # ~25 s: three short training runs
def test_training_with_recompute_follows_the_plain_run(tmp_path: Path) -> None:
    """One epoch with and without recomputing: the same losses and (nearly) the same weights;
    the option can be changed when resuming (e.g. after running out of memory)."""
    from yolov9.config import resolve
    from yolov9.data.synthetic import write_dataset
    from yolov9.engine.training import resume, train

    data = write_dataset(tmp_path / "data", splits={"train": 4, "val": 2}, size=(64, 64))["yolo"]
    common = {
        "model.name": "yolov9-t",
        "data.data": str(data),
        "data.imgsz": 64,
        "data.batch": 4,
        "data.workers": 0,
        "optim.nominal_batch": 4,
        "optim.warmup_epochs": 0.0,
        "precision": "fp32",
        "epochs": 1,
        "exist_ok": True,
    }
    runs = {}
    for mode in ("none", "all"):
        cfg = resolve(None, [], **common, out=str(tmp_path / mode), **{"model.recompute": mode})
        runs[mode] = train(cfg)
    plain, wrapped = (r.history[0] for r in (runs["none"], runs["all"]))
    for key in ("train/box", "train/cls", "train/dfl"):
        assert wrapped[key] == pytest.approx(plain[key], rel=1e-5), key
    again = resume(runs["none"].last, {"epochs": 2, "recompute": "highres"})
    assert len(again.history) == 2
