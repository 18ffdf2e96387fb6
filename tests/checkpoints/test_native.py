"""Our format: tensors and JSON only, atomic writes, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import randomize_
from yolov9.checkpoints import load_weights, save_checkpoint
from yolov9.errors import CheckpointError
from yolov9.models import build_model


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
@pytest.mark.parametrize("name", ["yolov9-t", "gelan-m"])
def test_round_trip(tmp_path: Path, suffix: str, name: str) -> None:
    model = randomize_(build_model(name, num_classes=3))
    path = save_checkpoint(tmp_path / f"w{suffix}", model, ["a", "b", "c"], meta={"imgsz": 320})
    loaded = load_weights(path)
    assert loaded.model.name == name
    assert loaded.names == ["a", "b", "c"]
    assert loaded.imgsz == 320
    assert loaded.meta["num_classes"] == 3
    sd = model.state_dict()
    assert all(torch.equal(v, sd[k]) for k, v in loaded.model.state_dict().items())
    assert [p.name for p in tmp_path.iterdir()] == [f"w{suffix}"]  # no temp files left


def test_torch_file_loads_with_weights_only(tmp_path: Path) -> None:
    model = build_model("gelan-t", num_classes=2)
    path = save_checkpoint(tmp_path / "w.pt", model, ["x", "y"], extra={"epoch": 3})
    obj = torch.load(path, weights_only=True)
    assert obj["format"] == "yolov9-checkpoint"
    assert obj["epoch"] == 3
    assert json.loads(obj["meta"])["model"] == "gelan-t"


def test_half_storage(tmp_path: Path) -> None:
    model = build_model("gelan-t", num_classes=2)
    path = save_checkpoint(tmp_path / "w.pt", model, ["x", "y"], half=True)
    assert torch.load(path, weights_only=True)["model"]["head.cls.0.2.weight"].dtype == torch.half
    assert load_weights(path).model.head.cls[0][2].weight.dtype == torch.float32


def test_names_must_match_classes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 class names for a 3-class model"):
        save_checkpoint(tmp_path / "w.pt", build_model("gelan-t", num_classes=3), ["a", "b"])


def test_wrong_weights_for_metadata(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "w.pt", build_model("gelan-t", num_classes=2), ["a", "b"])
    obj = torch.load(path, weights_only=True)
    obj["meta"] = json.dumps({**json.loads(obj["meta"]), "model": "gelan-s"})
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match="do not fit gelan-s"):
        load_weights(path)
