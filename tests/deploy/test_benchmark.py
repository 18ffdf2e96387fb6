"""``yolov9 benchmark``: every requested backend that is installed gets a timed row."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from yolov9.checkpoints import save_checkpoint
from yolov9.deploy.benchmark import format_rows, run_benchmark
from yolov9.models import build_model


@pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed"
)
def test_rows_for_available_backends(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = save_checkpoint(tmp_path / "t.pt", build_model("gelan-t", num_classes=2), ["a", "b"])
    wanted = ["torch", "onnxruntime", "onnxruntime-plain", "openvino", "cuda"]
    rows = run_benchmark(weights, imgsz=64, threads=1, runs=3, warmup=1, backends=tuple(wanted))
    expected = ["torch", "onnxruntime", "onnxruntime-plain"]
    if importlib.util.find_spec("openvino") is not None:
        expected.append("openvino")
    if torch.cuda.is_available():
        expected.append("cuda")
    assert [r.backend for r in rows] == expected
    for r in rows:
        assert 0 < r.min_ms <= r.median_ms <= r.max_ms
        assert r.throughput == pytest.approx(1000 / r.median_ms)
    table = format_rows(rows)
    assert table.count("\n") == len(rows) + 1
