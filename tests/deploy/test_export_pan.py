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


@pytest.fixture(scope="module")
def pan_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Generated COCO panoptic data and a panoptic checkpoint with its categories."""
    from yolov9.data.synthetic_panoptic import STUFF as DATA_STUFF
    from yolov9.data.synthetic_panoptic import THINGS, write_panoptic_dataset

    root = tmp_path_factory.mktemp("pan-int8")
    data = write_panoptic_dataset(root / "data", 6, size=(96, 128))
    meta = {"imgsz": SIZE, "stuff_names": list(DATA_STUFF)}
    model = panoptic_test_model(len(THINGS), len(DATA_STUFF))
    return data, save_checkpoint(root / "pan.pt", model, list(THINGS), meta=meta)


def _pq(weights: Path, data: Path, out: Path) -> dict:
    report = Detector.from_pretrained(weights, imgsz=SIZE).val(str(data), out=str(out))
    assert report.panoptic is not None
    return report.report


def test_val_of_an_onnx_export_gives_the_pytorch_pq(
    pan_data: tuple[Path, Path], tmp_path: Path
) -> None:
    data, weights = pan_data
    # a dynamic export sees the images as PyTorch does (a fixed one: square letterboxes)
    onnx = export(weights, tmp_path / "onnx", ExportOptions(imgsz=SIZE, dynamic=True)).path
    want, got = _pq(weights, data, tmp_path / "a"), _pq(onnx, data, tmp_path / "b")
    assert got["panoptic"]["All"]["n"] == want["panoptic"]["All"]["n"]
    assert want["panoptic"]["All"]["pq"] > 0
    for group in ("All", "Things", "Stuff"):
        assert got["panoptic"][group]["pq"] == pytest.approx(
            want["panoptic"][group]["pq"], abs=2e-3
        )
    assert got["semantic"]["mIoU"] == pytest.approx(want["semantic"]["mIoU"], abs=2e-3)


@pytest.mark.slow  # ~20 s: NNCF calibration and two panoptic validations
def test_openvino_int8_reports_the_pq_change(pan_data: tuple[Path, Path], tmp_path: Path) -> None:
    from tests.deploy.test_export import needs_nncf

    if needs_nncf.args[0]:
        pytest.skip(needs_nncf.kwargs["reason"])
    data, weights = pan_data
    opts = ExportOptions("openvino", SIZE, int8=True, data=str(data), calibration_images=6)
    report = export(weights, tmp_path / "int8", opts)
    assert report.metrics is not None
    for key in ("PQ", "mIoU", "AP", "mask_AP"):
        for precision in ("fp32", "int8"):
            assert 0.0 <= report.metrics[f"{key}_{precision}"] <= 1.0
    assert any(note.startswith("INT8 (performance): PQ ") for note in report.notes)


@pytest.mark.slow  # ~60 s: PQ of the validation split per layer group tried
def test_int8_accuracy_control_keeps_pq(
    pan_data: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.deploy.test_export import needs_nncf

    if needs_nncf.args[0]:
        pytest.skip(needs_nncf.kwargs["reason"])
    data, weights = pan_data
    opts = ExportOptions(
        "openvino", SIZE, int8=True, data=str(data), calibration_images=6, int8_max_drop=0.01
    )
    with caplog.at_level("INFO"):
        report = export(weights, tmp_path / "int8", opts)
    assert "accuracy control on 6 validation images, max PQ drop 0.01" in caplog.text
    assert report.metrics is not None
    assert report.metrics["PQ_fp32"] - report.metrics["PQ_int8"] <= 0.01 + 1e-9
