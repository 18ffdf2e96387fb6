"""``yolov9 benchmark``: every requested backend that is installed gets a timed row."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from yolov9.checkpoints import save_checkpoint
from yolov9.deploy.benchmark import format_rows, run_benchmark
from yolov9.models import build_model


@pytest.mark.slow  # ~30-70 s: times every installed backend (run with -m slow)
@pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed"
)
def test_rows_for_available_backends(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = save_checkpoint(tmp_path / "t.pt", build_model("gelan-t", num_classes=2), ["a", "b"])
    wanted = [
        "torch",
        "onnxruntime",
        "onnxruntime-plain",
        "openvino",
        "cuda",
        "ncnn",
        "litert-int8",
    ]
    rows = run_benchmark(weights, imgsz=64, threads=1, runs=3, warmup=1, backends=tuple(wanted))
    expected = ["torch", "onnxruntime", "onnxruntime-plain"]
    if importlib.util.find_spec("openvino") is not None:
        expected.append("openvino")
    if torch.cuda.is_available():
        expected.append("cuda")
    if importlib.util.find_spec("ncnn") and importlib.util.find_spec("pnnx"):
        expected.append("ncnn")
    if importlib.util.find_spec("litert_torch"):
        expected.append("litert-int8")
    assert [r.backend for r in rows] == expected
    for r in rows:
        assert 0 < r.min_ms <= r.median_ms <= r.max_ms
        assert r.throughput == pytest.approx(1000 / r.median_ms)
    table = format_rows(rows)
    assert table.count("\n") == len(rows) + 1


@pytest.mark.slow  # ~60-80 s: two exports of a segmentation model
@pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed"
)
def test_runners_for_a_segmentation_model(tmp_path: Path) -> None:
    """A segmentation model gets the same rows; the plain export has the reference's two
    outputs (detections with mask coefficients, and the prototypes)."""
    import onnxruntime as ort

    from yolov9.deploy.benchmark import build_runners

    torch.manual_seed(0)
    weights = save_checkpoint(tmp_path / "s.pt", build_model("gelan-t-seg", 2), ["a", "b"])
    wanted = ("torch", "onnxruntime", "onnxruntime-plain")
    runners = build_runners(weights, wanted, 64, 1, None, tmp_path)
    assert list(runners) == list(wanted)
    for run in runners.values():
        run()
    plain = ort.InferenceSession(str(tmp_path / "plain.onnx"))
    outputs = {o.name: o.shape for o in plain.get_outputs()}
    assert outputs == {"output0": [1, 4 + 2 + 32, 84], "output1": [1, 32, 16, 16]}


@pytest.mark.slow  # ~30-70 s: times every installed backend (run with -m slow)
@pytest.mark.skipif(
    importlib.util.find_spec("nncf") is None or importlib.util.find_spec("openvino") is None,
    reason="nncf/openvino are not installed (pip install yolov9[export])",
)
def test_int8_rows_without_data_for_a_model_of_other_classes(tmp_path: Path) -> None:
    """Bug: without --data, an 80-class model was calibrated on generated 4-class images and
    then scored on them: an IndexError traceback. Generated data now only calibrates."""
    from yolov9.cli import main

    torch.manual_seed(0)
    model = build_model("gelan-t", num_classes=80)
    with torch.no_grad():  # confident scores for every class: detections of classes 4 ... 79
        for branch in model.head.cls:
            branch[-1].bias.fill_(0.0)
    names = [f"c{i}" for i in range(80)]
    weights = save_checkpoint(tmp_path / "coco.pt", model, names)
    argv = ["benchmark", "--weights", str(weights), "--imgsz", "64", "--runs", "2"]
    assert main([*argv, "--threads", "1", "--backends", "openvino-int8"]) == 0
