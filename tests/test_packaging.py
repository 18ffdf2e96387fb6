"""Packaging facts: the declared torch minimum covers the torch APIs the code calls, and no
extra brings a second OpenCV."""

from __future__ import annotations

import re
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# The first torch release with each API as we call it (evidence: release notes and PRs).
NEEDS = {
    "fused SGD/AdamW on CPU (engine/optim.py)": (2, 4),  # pytorch#123074, #123629
    "FlopCounterMode without mods= counting per module (utils/flops.py)": (2, 4),  # #125352
    "torch.onnx.export(dynamo=True) -> ONNXProgram.model_proto (deploy/export.py)": (2, 5),
    "dynamic ONNX dims traced from a batch-1 example (export --dynamic)": (2, 8),  # #155717
}


def _declared_minimum() -> tuple[int, int]:
    match = re.search(r'"torch>=(\d+)\.(\d+)', PYPROJECT.read_text())
    assert match, "pyproject.toml must state a torch minimum"
    return int(match.group(1)), int(match.group(2))


def test_torch_minimum_covers_the_apis_we_use() -> None:
    declared = _declared_minimum()
    too_new = {api: v for api, v in NEEDS.items() if v > declared}
    assert too_new == {}, f"pyproject says torch>={declared}, but these need more: {too_new}"


def test_installed_torch_meets_the_declared_minimum() -> None:
    import torch

    major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    assert (major, minor) >= _declared_minimum()


def test_no_second_opencv_is_installed() -> None:
    """We ship opencv-python-headless; a second OpenCV (pulled in by an extra's dependency)
    shadows it and breaks both. CI installs every extra, so this checks them all."""
    from importlib import metadata

    installed = {d.metadata["Name"].lower() for d in metadata.distributions()}
    assert "opencv-python-headless" in installed
    others = installed & {
        "opencv-python",
        "opencv-contrib-python",
        "opencv-contrib-python-headless",
    }
    assert not others, f"a second OpenCV is installed: {sorted(others)}"


def test_extras_name_no_opencv_and_edge_covers_each_format() -> None:
    import pytest

    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    for name, deps in extras.items():
        assert not [d for d in deps if d.lower().startswith("opencv")], name
    assert extras["edge"] == ["yolov9[ncnn,litert,coreml]"]
