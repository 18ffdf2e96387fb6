"""The loss: parity with the reference, empty images, PGI weighting, gradients."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from yolov9.checkpoints import load_weights
from yolov9.loss import Targets, YOLOv9Loss
from yolov9.loss.criterion import pad_targets
from yolov9.models import build_model


def _parity_batch(shared: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(np.load(shared / "parity" / "loss_batch_uint8.npy")).float() / 255
    t = torch.from_numpy(np.load(shared / "parity" / "loss_targets.npy"))
    h, w = images.shape[2:]
    xyxy = torch.stack(
        [
            (t[:, 2] - t[:, 4] / 2) * w,
            (t[:, 3] - t[:, 5] / 2) * h,
            (t[:, 2] + t[:, 4] / 2) * w,
            (t[:, 3] + t[:, 5] / 2) * h,
        ],
        1,
    )
    return images, torch.cat((t[:, :2], xyxy), 1)


@pytest.mark.parametrize(
    ("key", "file"), [("dual", "yolov9-t-nc80.pt"), ("single", "gelan-t-nc80-converted.pt")]
)
def test_parity_with_reference_loss(shared: Path, key: str, file: str) -> None:
    reference = json.loads((shared / "parity" / "loss_reference.json").read_text())[key]
    model = load_weights(shared / "parity" / file).model.train()
    images, targets = _parity_batch(shared)
    out = YOLOv9Loss(80)(model(images), Targets(targets))
    got = [out.parts["box"], out.parts["cls"], out.parts["dfl"]]
    np.testing.assert_allclose(got, reference["box_cls_dfl"], rtol=1e-4)
    assert float(out.total.detach()) == pytest.approx(reference["total"], rel=1e-4)


def _toy_batch() -> tuple[torch.nn.Module, torch.Tensor, Targets]:
    model = build_model("yolov9-t", num_classes=3).train()
    images = torch.rand(2, 3, 64, 64)
    boxes = torch.tensor([[0, 1, 8.0, 8, 40, 30], [0, 2, 30, 20, 60, 60], [1, 0, 5, 5, 20, 50]])
    return model, images, Targets(boxes)


def test_images_without_boxes_give_zero_box_and_dfl() -> None:
    model, images, _ = _toy_batch()
    out = YOLOv9Loss(3)(model(images), Targets(torch.zeros(0, 6)))
    assert out.parts["box"] == 0.0
    assert out.parts["dfl"] == 0.0
    assert out.parts["cls"] > 0.0
    assert torch.isfinite(out.total)
    out.total.backward()  # the graph stays connected (DDP needs every parameter used)


def test_aux_weight_zero_is_main_only() -> None:
    model, images, targets = _toy_batch()
    outputs = model(images)
    dual = YOLOv9Loss(3)(outputs, targets)
    single = YOLOv9Loss(3, aux_weight=0.0)(outputs, targets)
    main_only = YOLOv9Loss(3)(outputs._replace(aux=None), targets)
    assert single.parts["box"] == pytest.approx(main_only.parts["box"])
    assert dual.parts["box"] == pytest.approx(
        7.5 * (dual.parts["main/box"] + 0.25 * dual.parts["aux/box"])
    )
    assert float(dual.total.detach()) == pytest.approx(
        2 * (dual.parts["box"] + dual.parts["cls"] + dual.parts["dfl"]), rel=1e-6
    )


def test_every_parameter_gets_a_gradient_from_the_loss() -> None:
    model, images, targets = _toy_batch()
    YOLOv9Loss(3)(model(images), targets).total.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert missing == []


def test_pad_targets_keeps_order_within_images() -> None:
    targets = torch.tensor([[1, 5, 1, 1, 2, 2], [0, 3, 0, 0, 1, 1], [1, 6, 3, 3, 4, 4.0]])
    labels, boxes, mask = pad_targets(targets, batch_size=3)
    assert labels.shape == (3, 2, 1)
    assert labels[..., 0].tolist() == [[3, 0], [5, 6], [0, 0]]
    assert mask[..., 0].tolist() == [[True, False], [True, True], [False, False]]
    assert boxes[1, 1].tolist() == [3, 3, 4, 4]
