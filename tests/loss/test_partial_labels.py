"""A batch computes the terms of the labels it carries (``Targets.labels``, a mixture of
datasets): the all-task criterion with every kind equals the plain one, each kind alone gives
exactly its terms (the rest 0, and no gradient to the parts only they train)."""

from __future__ import annotations

import pytest
import torch

from tests.loss.test_panoptic_loss import _targets
from yolov9.loss import AllTasksLoss, PanopticLoss, Targets
from yolov9.loss.interface import LABELS
from yolov9.models import CaptionSpec, build_model
from yolov9.models.caption import BOS, EOS, PAD

TOKENS = torch.tensor([[BOS, 5, 6, EOS], [BOS, 7, EOS, PAD]])
BOX_TERMS = ("box", "cls", "dfl", "seg")
SEMANTIC_TERMS = ("focal", "dice")


def _run(labels: frozenset[str] | None) -> tuple[torch.nn.Module, dict[str, float], float]:
    torch.manual_seed(0)
    model = build_model(
        "yolov9-t-all", 3, stuff_classes=2, caption=CaptionSpec(vocab_size=16, regions=10)
    ).train()
    torch.manual_seed(1)
    out = model(torch.rand(2, 3, 64, 64), TOKENS)
    targets = _targets()._replace(captions=TOKENS, labels=labels)
    loss = AllTasksLoss(3, label_smoothing=0.0)(out, targets)
    loss.total.backward()
    return model, loss.parts, float(loss.total.detach())


def test_every_kind_is_the_plain_loss() -> None:
    _, plain, total = _run(None)
    _, every, total_every = _run(frozenset(LABELS))
    assert every == plain
    assert total_every == total


@pytest.mark.parametrize(
    ("kinds", "present"),
    [
        ({"boxes"}, {"box", "cls", "dfl"}),
        ({"boxes", "masks"}, set(BOX_TERMS)),
        ({"semantic"}, set(SEMANTIC_TERMS)),
        ({"captions"}, {"caption"}),
        ({"boxes", "masks", "semantic"}, {*BOX_TERMS, *SEMANTIC_TERMS}),
    ],
)
def test_each_kind_gives_its_terms_only(kinds: set[str], present: set[str]) -> None:
    model, parts, total = _run(frozenset(kinds))
    _, plain, _ = _run(None)
    for term in (*BOX_TERMS, *SEMANTIC_TERMS, "caption"):
        if term in present:
            assert parts[term] == pytest.approx(plain[term], rel=1e-6), term
            assert parts[term] > 0, term
        else:
            assert parts[term] == 0.0, term
    assert total == pytest.approx(2 * sum(parts[t] for t in present), rel=1e-5)  # x batch
    caption_grad = model.caption.embed.weight.grad
    assert (caption_grad is not None and caption_grad.abs().sum() > 0) == ("captions" in kinds)
    classes = [p for n, p in model.head.named_parameters() if "cls" in n or "class" in n]
    assert classes, "the head's class branch"
    touched = any(p.grad is not None and p.grad.abs().sum() > 0 for p in classes)
    assert touched == ("boxes" in kinds)


def test_a_panoptic_batch_of_label_maps_trains_the_semantic_terms_only() -> None:
    """Label maps carry no things: no box or mask term, where the plain loss would teach
    'nothing here' to the detection head."""
    torch.manual_seed(0)
    model = build_model("yolov9-t-pan", 3, stuff_classes=2).train()
    out = model(torch.rand(2, 3, 64, 64))
    t = _targets()
    maps = Targets(torch.zeros(0, 6), None, t.semantic, labels=frozenset({"semantic"}))
    loss = PanopticLoss(3)(out, maps)
    assert all(loss.parts[k] == 0.0 for k in BOX_TERMS)
    assert loss.parts["focal"] > 0
    with pytest.raises(ValueError, match="needs the batch's masks"):
        PanopticLoss(3)(out, Targets(t.boxes, None, t.semantic))
