"""The segmentation criterion: equal to the reference's on its fixture (single and dual
heads), finite on empty batches, the overlap and per-object mask forms agree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import randomize_
from yolov9.checkpoints import load_weights
from yolov9.loss.interface import Targets
from yolov9.loss.segment import SegmentationLoss
from yolov9.models import build_model


def _fixture_batch(shared: Path) -> tuple[torch.Tensor, Targets]:
    seg = shared / "parity" / "seg"
    images = torch.from_numpy(np.load(seg / "seg_loss_batch_uint8.npy")).float() / 255
    t = torch.from_numpy(np.load(seg / "seg_loss_targets.npy"))  # image, class, cx, cy, w, h
    xywh = t[:, 2:] * images.shape[-1]  # scaled first, then corners, as the reference does
    boxes = torch.cat((t[:, :2], xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2), 1)
    return images, Targets(boxes, torch.from_numpy(np.load(seg / "seg_loss_masks.npy")))


@pytest.mark.parametrize(
    ("key", "file"), [("single", "gelan-c-seg-nc80"), ("dual", "yolov9-c-dseg-nc80")]
)
def test_equals_the_reference_loss(
    shared: Path, seg_files: dict[str, Path], key: str, file: str
) -> None:
    """Total and the four logged terms within 1e-4 relative (measured: identical), and the
    gradient norm. The clamped normaliser (our fix for empty batches) leaves them unchanged."""
    ref = json.loads((shared / "parity" / "seg" / "seg_loss_reference.json").read_text())[key]
    model = load_weights(seg_files[file]).model.train()  # BatchNorm on batch statistics
    images, targets = _fixture_batch(shared)
    out = SegmentationLoss(80)(model(images), targets)
    assert out.total.detach().item() == pytest.approx(ref["total"], rel=1e-4)
    ours = [out.parts[k] for k in ("box", "seg", "cls", "dfl")]
    assert ours == pytest.approx(ref["box_seg_cls_dfl"], rel=1e-4)
    out.total.backward()
    grads = [p.grad.double().pow(2).sum() for p in model.parameters() if p.grad is not None]
    assert float(torch.stack(grads).sum().sqrt()) == pytest.approx(
        ref["grad_global_l2_norm"], rel=1e-4
    )


def _tiny(name: str = "yolov9-t-seg", **kw: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return randomize_(build_model(name, num_classes=3, **kw)).train()


def _objects() -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping boxes in two 64x64 images and their masks at 16x16 (ratio 4)."""
    boxes = torch.tensor(
        [[0, 0, 4, 4, 28, 30], [0, 2, 36, 8, 60, 40], [1, 1, 10, 30, 50, 62]], dtype=torch.float32
    )
    masks = torch.zeros(3, 16, 16)
    for k, (_, _, x1, y1, x2, y2) in enumerate(boxes.tolist()):
        masks[k, int(y1) // 4 + 1 : int(y2) // 4 - 1, int(x1) // 4 + 1 : int(x2) // 4] = 1
    return boxes, masks


def test_overlap_index_maps_give_the_same_loss() -> None:
    model = _tiny()
    out = model(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)))
    boxes, masks = _objects()
    index_maps = torch.zeros(2, 16, 16)
    for image in (0, 1):
        rows = (boxes[:, 0] == image).nonzero().flatten()
        for n, k in enumerate(rows.tolist(), 1):
            index_maps[image][masks[k] > 0] = n
    per_object = SegmentationLoss(3)(out, Targets(boxes, masks))
    overlap = SegmentationLoss(3, overlap=True)(out, Targets(boxes, index_maps))
    assert per_object.parts["seg"] > 0
    assert overlap.total.item() == pytest.approx(per_object.total.item(), rel=1e-6)
    assert overlap.parts == pytest.approx(per_object.parts, rel=1e-6)


def test_masks_at_another_resolution_are_resized() -> None:
    model = _tiny("gelan-t-seg")
    out = model(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2)))
    boxes, masks = _objects()
    big = masks.repeat_interleave(2, 1).repeat_interleave(2, 2)  # 32x32, nearest back to 16
    a = SegmentationLoss(3)(out, Targets(boxes, masks))
    b = SegmentationLoss(3)(out, Targets(boxes, big))
    assert a.total.item() == pytest.approx(b.total.item())


@pytest.mark.parametrize("name", ["yolov9-t-seg", "gelan-t-dseg"])
def test_a_batch_without_objects_gives_finite_losses(name: str) -> None:
    """The reference divides by an unclamped sum of target scores: NaN without objects."""
    model = _tiny(name)
    out = model(torch.rand(2, 3, 64, 64))
    loss = SegmentationLoss(3)(out, Targets(torch.zeros(0, 6), torch.zeros(0, 16, 16)))
    assert torch.isfinite(loss.total)
    assert loss.parts["box"] == loss.parts["seg"] == loss.parts["dfl"] == 0.0
    assert loss.parts["cls"] > 0
    loss.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_deep_supervision_ablation_has_mask_heads_too() -> None:
    model = _tiny("yolov9-t-seg", aux="deep-supervision")
    out = model(torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3)))
    assert out.aux is not None
    assert out.aux.protos is not None
    loss = SegmentationLoss(3)(out, Targets(*_objects()))
    assert {"aux/seg", "main/seg"} <= set(loss.parts)
    assert loss.parts["aux/seg"] > 0


def test_masks_are_required() -> None:
    model = _tiny("gelan-t-seg")
    with pytest.raises(ValueError, match="masks"):
        SegmentationLoss(3)(model(torch.rand(1, 3, 64, 64)), Targets(torch.zeros(0, 6)))
