"""The authors' checkpoints: parity with reference outputs, and exact round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.checkpoints.official_format import write_official
from tests.conftest import randomize_
from yolov9.checkpoints import load_weights
from yolov9.models import build_model
from yolov9.ops import box_xyxy_to_xywh


def _reference_layout(head, out) -> np.ndarray:
    """(B, 4 + C, A) with (cx, cy, w, h) boxes and sigmoid scores, as the reference returns."""
    boxes, scores = head.decode(out)
    return torch.cat((box_xyxy_to_xywh(boxes), scores), -1).transpose(1, 2).numpy()


def _input(shared: Path) -> torch.Tensor:
    return torch.from_numpy(np.load(shared / "parity" / "input_640_uint8.npy"))[None].float() / 255


def test_parity_with_reference_training_graph(shared: Path) -> None:
    loaded = load_weights(shared / "parity" / "yolov9-t-nc80.pt")
    assert loaded.model.name == "yolov9-t"
    assert loaded.source_format == "official"
    assert loaded.names[:3] == ["person", "bicycle", "car"]
    assert sum(p.numel() for p in loaded.model.parameters()) == 3_717_680
    model = loaded.model.eval()
    ref = np.load(shared / "parity" / "yolov9-t-nc80.outputs.npz")
    with torch.no_grad():
        out = model(_input(shared))
    for name, head, raw in (("y_main", model.head, out.main), ("y_aux", model.aux.head, out.aux)):
        y = _reference_layout(head, raw)
        assert y.shape == ref[name].shape
        np.testing.assert_allclose(y[:, :4], ref[name][:, :4], atol=1e-2, rtol=0)
        np.testing.assert_allclose(y[:, 4:], ref[name][:, 4:], atol=1e-4, rtol=0)


def test_parity_with_reference_converted_graph(shared: Path) -> None:
    converted = load_weights(shared / "parity" / "gelan-t-nc80-converted.pt").model.eval()
    assert converted.name == "gelan-t"
    ref = np.load(shared / "parity" / "gelan-t-nc80-converted.outputs.npz")["y_main"]
    x = _input(shared)
    with torch.no_grad():
        y = _reference_layout(converted.head, converted(x).main)
        np.testing.assert_allclose(y[:, :4], ref[:, :4], atol=1e-2, rtol=0)
        np.testing.assert_allclose(y[:, 4:], ref[:, 4:], atol=1e-4, rtol=0)
        # our drop_aux() of the training graph == the reference's conversion, bit for bit
        dropped = load_weights(shared / "parity" / "yolov9-t-nc80.pt").model.eval().drop_aux()
        a, b = dropped(x).main, converted(x).main
    assert torch.equal(a.pred_dist, b.pred_dist)
    assert torch.equal(a.pred_logits, b.pred_logits)


@pytest.mark.parametrize(
    ("name", "num_classes"),
    [
        ("yolov9-t", 80),
        ("gelan-t", 3),
        ("yolov9-s", 2),
        ("yolov9-m", 5),
        ("gelan-m", 5),
        ("yolov9-c", 80),
        ("gelan-c", 1),
        ("gelan-e", 4),
    ],
)
def test_round_trip_through_reference_format(tmp_path: Path, name: str, num_classes: int) -> None:
    model = randomize_(build_model(name, num_classes=num_classes)).eval()
    names = [f"n{i}" for i in range(num_classes)]
    loaded = load_weights(write_official(tmp_path / "w.pt", model, names))
    assert loaded.model.name == name
    assert loaded.names == names
    expected = {k: v.half().float() for k, v in model.state_dict().items()}
    got = loaded.model.state_dict()
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k].float(), expected[k].float()) for k in expected)


@pytest.mark.slow
def test_round_trip_yolov9_e(tmp_path: Path) -> None:
    model = build_model("yolov9-e", num_classes=80).eval()
    loaded = load_weights(write_official(tmp_path / "e.pt", model, [str(i) for i in range(80)]))
    assert loaded.model.name == "yolov9-e"


def test_ema_entry_is_preferred(tmp_path: Path) -> None:
    model = build_model("gelan-t", num_classes=2)
    loaded = load_weights(write_official(tmp_path / "w.pt", model, ["a", "b"], as_ema=True))
    assert loaded.model.name == "gelan-t"
