"""Packaging facts: the declared torch minimum covers the torch APIs the code calls."""

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
