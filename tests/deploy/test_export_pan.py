"""Exports of panoptic models: the semantic logits are an output of the graph (passed through
when NMS is inside), the stuff names travel in the metadata, and predictions from the files
give the PyTorch model's semantic map and panoptic segmentation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import panoptic_scene, panoptic_test_model
from tests.inference.test_predict_pan import NAMES, STUFF
from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.deploy.export import ExportOptions, export
from yolov9.inference.result import Result

SIZE = 128


@pytest.fixture(scope="module")
def pan_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("panw") / "pan.pt"
    meta = {"imgsz": SIZE, "stuff_names": STUFF}
    return save_checkpoint(path, panoptic_test_model(), NAMES, meta=meta)


def _predict(path: Path) -> Result:
    detector = Detector.from_pretrained(path, imgsz=SIZE)
    assert detector.task == "panoptic"
    return detector.predict(panoptic_scene((SIZE, SIZE)), conf=0.2)[0]


def _onnx_outputs(path: Path) -> list[str]:
    import onnxruntime as ort

    return [o.name for o in ort.InferenceSession(str(path)).get_outputs()]


@pytest.mark.parametrize("nms", [False, True])
def test_onnx_gives_the_pytorch_panoptic_result(pan_weights: Path, nms: bool) -> None:
    opts = ExportOptions(imgsz=SIZE, nms=nms, conf=0.2, iou=0.45, max_det=300)
    report = export(pan_weights, pan_weights.parent / f"nms{int(nms)}", opts)
    assert report.max_diff["semantic"] < 1e-3
    assert _onnx_outputs(report.path)[-1] == "semantic"
    want, got = _predict(pan_weights), _predict(report.path)
    assert got.panoptic is not None
    assert want.panoptic is not None
    assert got.panoptic.labels.names == tuple(NAMES + STUFF)  # from the metadata
    assert (got.semantic == want.semantic).mean() > 0.999
    assert [s.category for s in got.panoptic.segments] == [
        s.category for s in want.panoptic.segments
    ]
    assert (got.panoptic.ids == want.panoptic.ids).mean() > 0.999


@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")
def test_openvino_gives_the_semantic_map(pan_weights: Path) -> None:
    report = export(pan_weights, pan_weights.parent / "ov", ExportOptions("openvino", SIZE))
    got, want = _predict(report.path), _predict(pan_weights)
    assert got.semantic is not None
    assert np.mean(got.semantic == want.semantic) > 0.999


@pytest.mark.slow  # ~30 s: a pnnx and a LiteRT conversion
@pytest.mark.parametrize("fmt", ["ncnn", "tflite"])
def test_edge_exports_give_the_pytorch_panoptic_result(pan_weights: Path, fmt: str) -> None:
    from tests.deploy.test_export_edge import needs_litert, needs_ncnn

    marker = needs_ncnn if fmt == "ncnn" else needs_litert
    if marker.args[0]:
        pytest.skip(marker.kwargs["reason"])
    report = export(pan_weights, pan_weights.parent / fmt, ExportOptions(fmt, SIZE))
    assert report.max_diff["semantic"] < 1e-4
    want, got = _predict(pan_weights), _predict(report.path)
    assert got.panoptic is not None
    assert want.panoptic is not None
    assert got.panoptic.labels.names == tuple(NAMES + STUFF)
    assert (got.semantic == want.semantic).mean() > 0.999
    assert (got.panoptic.ids == want.panoptic.ids).mean() > 0.999
