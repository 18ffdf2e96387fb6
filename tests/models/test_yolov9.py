"""Whole models: PGI removal is exact, fusion is equal, every parameter learns."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import randomize_
from yolov9.models import build_model


def _flat(out: torch.Tensor | tuple) -> torch.Tensor:
    return torch.cat((out.pred_dist, out.pred_logits), -1)


@pytest.mark.parametrize("size", ["t", "s", "m", "c", "e"])
def test_drop_aux_keeps_main_output_bit_identical(size: str) -> None:
    model = randomize_(build_model(f"yolov9-{size}", num_classes=7)).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = _flat(model(x).main)
        main_keys = {k for k in model.state_dict() if not k.startswith("aux.")}
        model.drop_aux()
        after = _flat(model(x).main)
    assert model.name == f"gelan-{size}"
    assert torch.equal(before, after)
    assert set(model.state_dict()) == main_keys
    assert main_keys == set(build_model(f"gelan-{size}", num_classes=7).state_dict())


@pytest.mark.parametrize("name", ["yolov9-t", "gelan-s", "yolov9-m", "gelan-c", "gelan-e"])
def test_fused_output_equals_unfused(name: str) -> None:
    model = randomize_(build_model(name, num_classes=3)).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        ref = [model.head.decode(out.main)] + (
            [model.aux.head.decode(out.aux)] if model.aux is not None else []
        )
        model.fuse()
        out = model(x)
        got = [model.head.decode(out.main)] + (
            [model.aux.head.decode(out.aux)] if model.aux is not None else []
        )
    for (b0, s0), (b1, s1) in zip(ref, got, strict=True):
        torch.testing.assert_close(b1, b0, rtol=1e-5, atol=1e-3)  # pixels
        torch.testing.assert_close(s1, s0, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["yolov9-t", "yolov9-c", "yolov9-e"])
def test_every_trainable_parameter_gets_a_gradient(name: str) -> None:
    model = build_model(name, num_classes=2).train()
    out = model(torch.rand(2, 3, 64, 64))
    loss = sum(h.pred_dist.square().mean() + h.pred_logits.mean() for h in (out.main, out.aux))
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen == ["head.dfl.conv.weight", "aux.head.dfl.conv.weight"]


def test_head_bias_initialisation_follows_reference() -> None:
    model = build_model("gelan-t", num_classes=80)
    expected = {8: -11.5366, 16: -10.1503, 32: -8.7641}
    for cls, stride in zip(model.head.cls, model.head.strides, strict=True):
        assert cls[-1].bias.mean().item() == pytest.approx(expected[stride], abs=1e-4)
    for box in model.head.box:
        assert torch.all(box[-1].bias == 1.0)
