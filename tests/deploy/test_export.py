"""Exports: ONNX Runtime equals PyTorch, NMS inside the graph gives the same detections,
dynamic batch works, and predict/val run exported models through the same code path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import randomize_
from yolov9.checkpoints import save_checkpoint
from yolov9.data.synthetic import make_scene
from yolov9.deploy.export import ExportGraph, ExportOptions, export
from yolov9.inference import inference_graph, load_backend
from yolov9.inference.exported import _GraphBackend
from yolov9.models import build_model
from yolov9.ops.nms import non_max_suppression

needs_openvino = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None,
    reason="openvino is not installed (pip install yolov9[export])",
)
needs_nncf = pytest.mark.skipif(
    importlib.util.find_spec("nncf") is None or importlib.util.find_spec("openvino") is None,
    reason="nncf/openvino are not installed (pip install yolov9[export])",
)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A yolov9-t with varied weights whose class scores are spread out (some detections)."""
    torch.manual_seed(0)
    model = randomize_(build_model("yolov9-t", num_classes=3), seed=1)
    with torch.no_grad():
        for cls in model.head.cls:
            cls[-1].bias.fill_(0.0)
    path = tmp_path_factory.mktemp("w") / "t.pt"
    return save_checkpoint(path, model, ["a", "b", "c"], meta={"imgsz": 96})


def _images(n: int, size: int = 96) -> torch.Tensor:
    rng = np.random.default_rng(0)
    scenes = [make_scene(rng, (size, size))[0] for _ in range(n)]
    return torch.from_numpy(np.stack(scenes)).permute(0, 3, 1, 2).float() / 255


def _torch_outputs(weights: Path, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    from yolov9.checkpoints import load_weights

    with torch.no_grad():
        return ExportGraph(inference_graph(load_weights(weights).model))(images)


@pytest.fixture(scope="module")
def dynamic_onnx(weights: Path) -> Path:
    report = export(weights, weights.parent / "dyn", ExportOptions(imgsz=96, dynamic=True))
    assert report.max_diff["scores"] < 1e-4  # the exporter's own check
    return report.path


def test_onnx_equals_pytorch_with_dynamic_batch(weights: Path, dynamic_onnx: Path) -> None:
    backend = load_backend(dynamic_onnx)
    assert backend.fixed_shape is None
    assert backend.names == ["a", "b", "c"]
    for n in (1, 3):
        images = _images(n)
        boxes, scores = _torch_outputs(weights, images)
        got_boxes, got_scores = backend.infer(images)[:2]
        assert got_boxes.shape == (n, 189, 4)
        torch.testing.assert_close(got_scores, scores, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got_boxes, boxes, rtol=1e-4, atol=1e-3)


@pytest.mark.slow  # ~45 s; the segmentation export tests run an NMS export in the default suite
def test_onnx_nms_gives_the_same_detections(weights: Path, tmp_path: Path) -> None:
    opts = ExportOptions(imgsz=96, dynamic=True, nms=True, conf=0.3, iou=0.5, max_det=20)
    report = export(weights, tmp_path / "nms", opts)
    backend = load_backend(report.path)
    assert backend.has_nms
    images = _images(3)
    boxes, scores = _torch_outputs(weights, images)
    want = non_max_suppression(boxes, scores, conf_threshold=0.3, iou_threshold=0.5, max_det=20)
    got = backend.detect(images, conf=0.3)
    assert sum(len(w) for w in want) > 3  # the check is not vacuous
    for w, g in zip(want, got, strict=True):
        assert len(w) == len(g)
        assert g.labels.tolist() == w.labels.tolist()
        torch.testing.assert_close(g.scores, w.scores, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(g.boxes, w.boxes, rtol=1e-4, atol=1e-3)
    import onnxruntime as ort

    outputs = {o.name: o.shape for o in ort.InferenceSession(str(report.path)).get_outputs()}
    assert list(outputs) == ["num_dets", "det_boxes", "det_scores", "det_classes"]
    assert outputs["det_boxes"][1:] == [20, 4]


def test_export_drops_aux_and_records_metadata(weights: Path, tmp_path: Path) -> None:
    import onnx

    report = export(weights, tmp_path / "fixed", ExportOptions(imgsz=96))
    proto = onnx.load(str(report.path))
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 96, 96]
    assert not any("aux" in init.name for init in proto.graph.initializer)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert '"model": "gelan-t"' in meta["yolov9"]


def test_predict_and_val_accept_exports(weights: Path, dynamic_onnx: Path, shapes: dict) -> None:
    from yolov9.api import Detector
    from yolov9.data.dataset import load_dataset
    from yolov9.engine.evaluator import Evaluator

    onnx_path = dynamic_onnx
    image = (_images(1)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    a = Detector.from_pretrained(weights, device="cpu").predict(image, conf=0.3)[0]
    b = Detector.from_pretrained(onnx_path).predict(image, conf=0.3)[0]
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
    ds = load_dataset(shapes["yolo"], "val")
    ds.names = ["a", "b", "c", "d"]
    evaluator = Evaluator(ds, imgsz=96, batch_size=4, progress=False)
    m_torch = evaluator.run(load_backend(weights)).metrics
    m_onnx = evaluator.run(load_backend(onnx_path)).metrics
    assert abs(m_torch.AP - m_onnx.AP) < 1e-3


def test_torchscript(weights: Path, tmp_path: Path) -> None:
    report = export(weights, tmp_path / "m", ExportOptions(format="torchscript", imgsz=96))
    assert report.max_diff["scores"] < 1e-5
    assert load_backend(report.path).names == ["a", "b", "c"]


@pytest.mark.slow  # ~28 s for both; the governor's rule is unit-tested in tests/utils
@needs_openvino
@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_exported_runtime_follows_the_governor(weights: Path, tmp_path: Path, fmt: str) -> None:
    """Other processes take a core: the backend runs a session made with fewer threads (made
    once, kept), with the same outputs; a fixed thread count never changes."""
    path = export(weights, tmp_path / "m", ExportOptions(format=fmt, imgsz=96)).path
    backend = load_backend(path)
    assert isinstance(backend, _GraphBackend)
    images = _images(1)
    before = backend.infer(images)
    other = 1 if backend.governor.most > 1 else 2  # (a machine or test run with one thread)
    backend.governor.poll = lambda: other  # type: ignore[method-assign]
    after = backend.infer(images)
    assert set(backend._variants) == {backend.governor.most, other}
    torch.testing.assert_close(after.scores, before.scores, rtol=1e-4, atol=1e-5)
    backend.infer(images)
    assert len(backend._variants) == 2  # made once
    fixed = load_backend(path, threads=2)
    assert isinstance(fixed, _GraphBackend)
    assert not fixed.governor.enabled


@pytest.mark.slow  # OpenVINO parity stays in the default suite through the seg export test
@needs_openvino
def test_openvino_equals_pytorch(weights: Path, tmp_path: Path) -> None:
    opts = ExportOptions(format="openvino", imgsz=96, dynamic=True)
    report = export(weights, tmp_path / "m", opts)
    assert report.path.suffix == ".xml"
    assert report.max_diff["scores"] < 1e-4
    backend = load_backend(report.path)
    boxes, scores = _torch_outputs(weights, _images(3))
    got_boxes, got_scores = backend.infer(_images(3))[:2]
    torch.testing.assert_close(got_scores, scores, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got_boxes, boxes, rtol=1e-4, atol=1e-2)


def _assert_decode_tail_float(xml: Path) -> None:
    """No quantiser between the DFL softmax / class sigmoid and the outputs: 8-bit box
    coordinates cost 1 AP point on the small-data model (docs/benchmarks.md)."""
    import openvino as ov

    from yolov9.deploy.quantize import decode_tail

    model = ov.Core().read_model(str(xml))
    tail = set(decode_tail(model))
    assert {"boxes", "scores"} <= tail
    for op in model.get_ordered_ops():
        if op.get_friendly_name() in tail:
            sources = [i.get_source_output().get_node().get_type_name() for i in op.inputs()]
            assert "FakeQuantize" not in sources, op.get_friendly_name()


@needs_nncf
@pytest.mark.slow  # ~45 s: NNCF calibration and two evaluations (run with -m slow)
def test_openvino_int8_quantizes_and_reports_ap(tmp_path: Path, shapes: dict) -> None:
    """INT8: the OpenVINO model gets quantisers, runs, stays close to fp32, and the AP of both
    on the data's validation split is reported."""
    torch.manual_seed(0)
    model = randomize_(build_model("gelan-t", num_classes=4), seed=2)
    weights = save_checkpoint(tmp_path / "g.pt", model, list("abcd"), meta={"imgsz": 96})
    opts = ExportOptions(
        format="openvino", imgsz=96, int8=True, data=str(shapes["yolo"]), calibration_images=12
    )
    report = export(weights, tmp_path / "g", opts)
    assert report.path.parent.name.endswith("_int8_openvino")
    assert "FakeQuantize" in report.path.read_text()
    assert report.metrics is not None
    assert report.metrics["calibration_images"] == 12
    assert report.metrics["val_images"] == 12
    for key in ("AP_fp32", "AP_int8", "AP50_fp32", "AP50_int8"):
        assert 0.0 <= report.metrics[key] <= 1.0
    assert any("INT8 (performance): AP" in note for note in report.notes)
    _assert_decode_tail_float(report.path)
    # every convolution is quantised (through splits and concatenations) except those INT8
    # runs slower than float (input channels not a multiple of 16), none in the fp32 model
    import openvino as ov

    from yolov9.deploy.quantize import _float_convolutions, slow_int8_convolutions

    fp32_model = ov.Core().read_model(report.metrics["fp32_model"])
    slow = slow_int8_convolutions(fp32_model)
    assert "node_conv2d/WithoutBiases" in slow  # the first one, on 3 channels
    assert sorted(report.metrics["float_convolutions"]) == sorted(slow)
    if "bf16_ms" in report.metrics:  # a CPU with bf16: the faster of the two is named
        assert any("bf16" in note and "ms" in note for note in report.notes)
    convs = [o for o in fp32_model.get_ordered_ops() if "Convolution" in o.get_type_name()]
    assert len(_float_convolutions(fp32_model)) == len(convs) > 50
    int8 = load_backend(report.path)
    fp32 = load_backend(report.metrics["fp32_model"])
    x = _images(1)
    (b8, s8), (b32, s32) = int8.infer(x)[:2], fp32.infer(x)[:2]
    assert b8.shape == b32.shape
    assert s8.shape == s32.shape
    assert (s8 - s32).abs().max() < 0.2  # quantised, not broken


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (ExportOptions(format="onnx", int8=True, data="d.yaml"), "--format openvino"),
        (ExportOptions(format="openvino", int8=True), "needs --data"),
        (ExportOptions(format="openvino", int8_max_drop=0.01), "applies to --int8"),
    ],
)
def test_int8_options_are_checked_before_any_work(
    opts: ExportOptions, message: str, tmp_path: Path
) -> None:
    from yolov9.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        export(tmp_path / "missing.pt", None, opts)


@pytest.mark.slow  # ~40 s: evaluates the validation split once per layer group tried
@needs_nncf
def test_int8_accuracy_control_runs_on_the_validation_split(
    tmp_path: Path, shapes: dict, caplog: pytest.LogCaptureFixture
) -> None:
    """--int8-max-drop: NNCF's accuracy control scores candidates with our AP on the
    validation split (per image and in full) and the result stays within the limit."""
    torch.manual_seed(0)
    model = randomize_(build_model("gelan-t", num_classes=4), seed=2)
    weights = save_checkpoint(tmp_path / "g.pt", model, list("abcd"), meta={"imgsz": 96})
    opts = ExportOptions(
        format="openvino",
        imgsz=96,
        int8=True,
        data=str(shapes["yolo"]),
        calibration_images=12,
        int8_max_drop=0.02,
    )
    with caplog.at_level("INFO"):
        report = export(weights, tmp_path / "g", opts)
    assert "accuracy control on 12 validation images" in caplog.text
    assert report.metrics is not None
    assert report.metrics["AP_fp32"] - report.metrics["AP_int8"] <= 0.02 + 1e-9
    assert "FakeQuantize" in report.path.read_text()
    _assert_decode_tail_float(report.path)
