"""The caption criterion: token cross-entropy with padding ignored and label smoothing, added
to the PGI detection terms; off-detection mode computes no detection term at all."""

from __future__ import annotations

import math

import pytest
import torch

from yolov9.loss import CaptionLoss, Targets
from yolov9.loss.caption import caption_cross_entropy
from yolov9.models import CaptionSpec, build_model
from yolov9.models.caption import BOS, EOS, PAD


def test_padding_is_ignored_and_a_perfect_guess_costs_nothing() -> None:
    tokens = torch.tensor([[BOS, 5, 6, EOS, PAD, PAD]])
    logits = torch.zeros(1, 5, 8)
    for t, target in enumerate([5, 6, EOS]):
        logits[0, t, target] = 50.0
    assert caption_cross_entropy(logits, tokens, 0.0).item() == pytest.approx(0.0, abs=1e-6)
    changed = logits.clone()
    changed[0, 3:] = torch.randn(2, 8) * 10  # predictions after EOS: padding targets
    assert caption_cross_entropy(changed, tokens, 0.0) == caption_cross_entropy(logits, tokens, 0.0)
    # uniform logits: log(V) per token, whatever the smoothing
    flat = torch.zeros(1, 5, 8)
    assert caption_cross_entropy(flat, tokens, 0.1).item() == pytest.approx(math.log(8))


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    spec = CaptionSpec(vocab_size=16, regions=10)
    return build_model("yolov9-t-cap", 2, caption=spec).train()


def test_the_caption_term_is_added_to_both_heads_detection_terms() -> None:
    model = _model()
    tokens = torch.tensor([[BOS, 5, 6, EOS], [BOS, 7, EOS, PAD]])
    boxes = torch.tensor([[0, 1, 10.0, 10.0, 40.0, 40.0], [1, 0, 5.0, 20.0, 30.0, 60.0]])
    out = model(torch.rand(2, 3, 64, 64), tokens)
    targets = Targets(boxes, captions=tokens)
    loss = CaptionLoss(2, caption_gain=0.5, label_smoothing=0.0)(out, targets)
    ce = caption_cross_entropy(out.main.caption_logits, tokens, 0.0).item()
    assert loss.parts["main/caption"] == pytest.approx(ce, rel=1e-5)
    assert loss.parts["caption"] == pytest.approx(0.5 * ce, rel=1e-5)
    weighted = sum(loss.parts[k] for k in ("box", "cls", "dfl", "caption"))
    assert loss.total.item() == pytest.approx(2 * weighted, rel=1e-4)  # x batch size
    assert loss.parts["aux/cls"] > 0
    with pytest.raises(ValueError, match="needs the captions"):
        CaptionLoss(2)(model(torch.rand(2, 3, 64, 64)), Targets(boxes))


def test_without_detection_the_heads_get_no_gradient() -> None:
    model = _model()
    tokens = torch.tensor([[BOS, 5, 6, EOS]])
    out = model(torch.rand(1, 3, 64, 64), tokens)
    loss = CaptionLoss(2, detection=False)(out, Targets(torch.zeros(0, 6), captions=tokens))
    assert (loss.parts["box"], loss.parts["cls"], loss.parts["dfl"]) == (0.0, 0.0, 0.0)
    loss.total.backward()
    assert all(p.grad is None for p in model.head.parameters())
    assert all(p.grad is None for p in model.aux.parameters())
    assert model.caption.embed.weight.grad is not None
