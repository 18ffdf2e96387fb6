"""Loading never executes code from a checkpoint; broken files give one clear error."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from tests.checkpoints.official_format import write_official
from yolov9.checkpoints import load_weights, read_torch_file
from yolov9.errors import CheckpointError
from yolov9.models import build_model


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_in_pickle_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    torch.save({"model": _Evil(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"refusing to load.*system"):
        read_torch_file(tmp_path / "evil.pt")
    assert not marker.exists()


def test_eval_in_pickle_is_refused(tmp_path: Path) -> None:
    class Sneaky:
        def __reduce__(self):
            return (eval, ("1+1",))

    torch.save({"x": Sneaky()}, tmp_path / "s.pt")
    with pytest.raises(CheckpointError, match=r"builtins\.eval"):
        load_weights(tmp_path / "s.pt")


def test_truncated_file(tmp_path: Path) -> None:
    path = write_official(tmp_path / "w.pt", build_model("gelan-t", num_classes=2), ["a", "b"])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"w\.pt"):
        load_weights(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not a torch checkpoint"), (b"hello world" * 10, "not a torch checkpoint")],
)
def test_not_a_checkpoint(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_weights(path)


def test_other_pickles_are_not_models(tmp_path: Path) -> None:
    torch.save({"weights": [1, 2, 3]}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a YOLOv9 checkpoint"):
        load_weights(tmp_path / "other.pt")
    torch.save({"model.0.conv.weight": torch.zeros(3)}, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match="not a YOLOv9 checkpoint"):
        load_weights(tmp_path / "partial.pt")


def test_plain_pickle_protocols_load(tmp_path: Path) -> None:
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        torch.save({"a": torch.arange(3)}, tmp_path / "p.pt", pickle_protocol=protocol)
        assert read_torch_file(tmp_path / "p.pt")["a"].tolist() == [0, 1, 2]


def test_missing_file_is_a_clear_error() -> None:
    with pytest.raises(CheckpointError, match=r"weights file not found: nope/x\.pt"):
        load_weights("nope/x.pt")


class _GetattrOf:
    """Pickles as ``getattr(owner, name)``, the form of the authors' segmentation heads."""

    def __init__(self, owner: object, name: str) -> None:
        self.owner, self.name = owner, name

    def __reduce__(self):
        return (getattr, (self.owner, self.name))


def test_getattr_forward_of_a_stand_in_class_is_inert(tmp_path: Path) -> None:
    from tests.checkpoints.official_format import fake_reference_modules

    with fake_reference_modules() as (block, _):
        torch.save({"detect": _GetattrOf(block, "forward")}, tmp_path / "seg.pt")
    assert read_torch_file(tmp_path / "seg.pt") == {"detect": "models.common.Block.forward"}


@pytest.mark.parametrize(
    ("owner", "name"), [(OrderedDict, "fromkeys"), (set, "pop"), (Path, "unlink"), (set, "forward")]
)
def test_getattr_on_anything_else_is_refused(tmp_path: Path, owner: object, name: str) -> None:
    marker = tmp_path / "pwned"
    torch.save({"f": _GetattrOf(owner, name)}, tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match="refusing to load"):
        read_torch_file(tmp_path / "g.pt")
    assert not marker.exists()


def test_getattr_of_a_stand_in_class_other_than_forward_is_refused(tmp_path: Path) -> None:
    from tests.checkpoints.official_format import fake_reference_modules

    with fake_reference_modules() as (block, _):
        torch.save({"f": _GetattrOf(block, "__init__")}, tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match=r"getattr\(.*'__init__'\)"):
        read_torch_file(tmp_path / "g.pt")
