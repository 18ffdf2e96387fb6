"""benchmarks/bench_gpu.py --dry-run: every section's code path on the CPU, at a tiny size.

The GPU figures themselves come from running the script on a CUDA machine; this keeps the
script working between those runs (about 35 s on 2 cores; slow: run with -m slow).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "bench_gpu.py"


@pytest.mark.slow  # ~30 s: every section of the GPU script on the CPU
def test_bench_gpu_dry_run(tmp_path: Path) -> None:
    out = tmp_path / "bench_gpu.md"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = out.read_text()
    assert table.strip() in proc.stdout  # printed as written
    assert "dry run (CPU, numbers meaningless)" in table
    for heading in ("### Training", "### DDP", "### Inference"):
        assert heading in table

    figures = json.loads(out.with_suffix(".json").read_text())
    rows = [r for key in ("train", "ddp", "infer", "onnx") for r in figures[key]]
    failed = [r for r in rows if r["status"] not in ("ok", "skipped")]
    assert not failed, failed

    # training with and without the memory option, each measured
    train = {r["mode"]: r for r in figures["train"]}
    assert set(train) == {"none", "highres", "all"}
    assert all(r["status"] == "ok" and r["images_per_s"] > 0 for r in train.values())
    assert train["all"]["recomputed_parts"] > train["highres"]["recomputed_parts"] > 0
    assert "| yolov9-t | none |" in table
    assert "| yolov9-t | all |" in table

    # DDP over gloo with 2 processes
    (ddp,) = figures["ddp"]
    assert ddp["status"] == "ok", ddp
    assert (ddp["backend"], ddp["world_size"]) == ("gloo", 2)
    assert ddp["images_per_s"] > 0
    assert "| yolov9-t | 2 | gloo |" in table

    # PyTorch inference, batch 1 and a throughput batch
    infer = figures["infer"]
    assert [(r["model"], r["batch"], r["status"]) for r in infer] == [
        ("gelan-t", 1, "ok"),
        ("gelan-t", 2, "ok"),
    ]
    assert all(r["median_ms"] > 0 for r in infer)

    # ONNX Runtime: CUDA and TensorRT rows (measured, or the reason they were not), and the
    # CPU provider measured when onnxruntime and the exporter are installed
    onnx = {r["runtime"]: r for r in figures["onnx"]}
    for runtime in ("ONNX Runtime CUDA EP", "ONNX Runtime TensorRT EP", "ONNX Runtime CPU EP"):
        row = onnx[runtime]
        assert row["status"] == "ok" or row["note"].startswith("skipped: "), row
        assert f"| gelan-t | {runtime} |" in table
    cpu = onnx["ONNX Runtime CPU EP"]
    if cpu["status"] == "ok":
        assert cpu["providers"][0] == "CPUExecutionProvider"
        assert cpu["median_ms"] > 0
    else:
        assert "not installed" in cpu["note"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_bench_gpu_refuses_without_cuda_or_dry_run(tmp_path: Path) -> None:
    """Without CUDA and without --dry-run: a clear message, no benchmark."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no CUDA device" in proc.stderr
    assert "--dry-run" in proc.stderr


def test_trtexec_output_is_read() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from bench_gpu import trtexec_median_ms
    finally:
        sys.path.pop(0)
    line = (
        "[12/02/2026-13:00:00] [I] GPU Compute Time: min = 0.71 ms, max = 1.2 ms, mean = 0.75 ms,"
        " median = 0.74 ms, percentile(90%) = 0.78 ms"
    )
    assert trtexec_median_ms(line) == 0.74
    assert trtexec_median_ms("no engine") is None
