"""The panoptic criterion: equal to the reference's on its fixture (every term, the total,
the gradient norms), PGI as main + 0.25 x auxiliary, and ignored pixels that count nowhere."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import randomize_
from yolov9.checkpoints import load_weights
from yolov9.loss import PanopticLoss, Targets
from yolov9.loss.panoptic import TERMS, semantic_dice, semantic_focal
from yolov9.models import ModelOutput, build_model


def _fixture_batch(shared: Path) -> tuple[torch.Tensor, Targets]:
    pan = shared / "parity" / "pan"
    images = torch.from_numpy(np.load(pan / "pan_loss_batch_uint8.npy")).float() / 255
    t = torch.from_numpy(np.load(pan / "pan_loss_targets.npy"))  # image, class, cx, cy, w, h
    xywh = t[:, 2:] * images.shape[-1]
    boxes = torch.cat((t[:, :2], xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2), 1)
    masks = torch.from_numpy(np.load(pan / "pan_loss_masks.npy"))
    semantic = torch.from_numpy(np.load(pan / "pan_loss_semasks.npy"))
    return images, Targets(boxes, masks, semantic)


def _norm(params: Iterable[torch.nn.Parameter]) -> float:
    grads = [p.grad.double().pow(2).sum() for p in params if p.grad is not None]
    return float(torch.stack(grads).sum().sqrt())


def test_equals_the_reference_loss(shared: Path, pan_checkpoint: Path) -> None:
    """Measured: focal and dice identical, box/cls/dfl within 1e-5 relative (as for
    segmentation), the total within 8e-6, the gradient norm within 5e-5."""
    ref = json.loads((shared / "parity" / "pan" / "pan_loss_reference.json").read_text())
    ref = ref["single"]
    model = load_weights(pan_checkpoint).model.train()
    images, targets = _fixture_batch(shared)
    out = PanopticLoss(80)(model(images), targets)
    assert out.total.detach().item() == pytest.approx(ref["total"], rel=1e-4)
    assert [out.parts[k] for k in TERMS] == pytest.approx(
        ref["box_seg_cls_dfl_semfocal_semdice"], rel=1e-4
    )
    out.total.backward()
    assert _norm(model.parameters()) == pytest.approx(ref["grad_global_l2_norm"], rel=1e-4)
    assert _norm(model.head.semantic.parameters()) == pytest.approx(
        ref["grad_l2_norm_uconv"], rel=1e-4
    )


def _tiny(name: str = "yolov9-t-pan", **kw: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return randomize_(build_model(name, num_classes=3, stuff_classes=2, **kw)).train()


def _targets() -> Targets:
    boxes = torch.tensor([[0, 0, 4, 4, 28, 30], [1, 2, 10, 30, 50, 62]], dtype=torch.float32)
    masks = torch.zeros(2, 16, 16)
    masks[0, 2:7, 2:7] = 1
    masks[1, 8:15, 3:12] = 1
    semantic = torch.zeros(2, 5, 16, 16)
    semantic[:, 3, :8] = 1  # stuff above
    semantic[:, 4, 8:] = 1  # stuff below
    semantic[0, 0, 2:7, 2:7] = 1
    semantic[1, 2, 8:15, 3:12] = 1
    return Targets(boxes, masks, semantic)


def test_pgi_is_main_plus_a_quarter_of_the_auxiliary_head() -> None:
    model = _tiny()
    out = model(torch.rand(2, 3, 64, 64))
    assert out.aux is not None
    assert out.aux.semantic is not None
    loss = PanopticLoss(3)
    dual = loss(out, _targets())
    main = loss(ModelOutput(out.main, None), _targets())
    aux = loss(ModelOutput(out.aux, None), _targets())
    assert dual.total.item() == pytest.approx(main.total.item() + 0.25 * aux.total.item(), rel=1e-6)
    for k in TERMS:
        assert dual.parts[k] == pytest.approx(main.parts[k] + 0.25 * aux.parts[k], rel=1e-6)
    assert dual.parts["aux/focal"] > 0
    assert dual.parts["aux/dice"] > 0


def test_the_deep_supervision_ablation_has_semantic_heads_too() -> None:
    out = _tiny(aux="deep-supervision")(torch.rand(2, 3, 64, 64))
    loss = PanopticLoss(3)(out, _targets())
    assert torch.isfinite(loss.total)
    assert loss.parts["aux/dice"] > 0


def test_ignored_pixels_count_in_neither_term() -> None:
    """Ignoring the right half equals the terms on the left half alone, whatever the logits
    and targets there."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 8, 12, generator=g)
    target = (torch.rand(2, 5, 8, 12, generator=g) > 0.7).float()
    ignore = torch.zeros(2, 8, 12, dtype=torch.bool)
    ignore[..., 6:] = True
    left = (logits[..., :6], target[..., :6])
    assert semantic_focal(logits, target, ignore) == pytest.approx(semantic_focal(*left).item())
    assert semantic_dice(logits, target, ignore) == pytest.approx(semantic_dice(*left).item())
    changed = logits.clone()
    changed[..., 6:] = 100.0
    assert semantic_focal(changed, target, ignore) == pytest.approx(
        semantic_focal(logits, target, ignore).item()
    )


def test_the_semantic_target_is_required_and_checked() -> None:
    out = _tiny("gelan-t-pan")(torch.rand(2, 3, 64, 64))
    boxes, masks, semantic, *_ = _targets()
    with pytest.raises(ValueError, match="needs the batch's semantic target"):
        PanopticLoss(3)(out, Targets(boxes, masks))
    with pytest.raises(ValueError, match="semantic target of 4 channels for 5 logits"):
        PanopticLoss(3)(out, Targets(boxes, masks, semantic[:, :4]))
