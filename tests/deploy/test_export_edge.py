"""Edge exports: NCNN and LiteRT equal PyTorch where their runtimes run (here), LiteRT fp16 and
INT8 run through the same backend, CoreML converts with the declared inputs, outputs and
metadata (it runs on macOS only), predict/val accept the files, and options a format cannot
honour are refused before any work."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import randomize_
from yolov9.checkpoints import load_weights, save_checkpoint
from yolov9.data.synthetic import make_scene
from yolov9.deploy.export import ExportGraph, ExportOptions, export
from yolov9.errors import ConfigError
from yolov9.inference import inference_graph, load_backend
from yolov9.models import build_model


def _missing(*modules: str) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


needs_ncnn = pytest.mark.skipif(
    bool(_missing("pnnx", "ncnn")),
    reason=f"{', '.join(_missing('pnnx', 'ncnn'))} not installed (pip install yolov9[ncnn])",
)
_LITERT = ("litert_torch", "ai_edge_litert", "ai_edge_quantizer")
needs_litert = pytest.mark.skipif(
    bool(_missing(*_LITERT)),
    reason=f"{', '.join(_missing(*_LITERT))} not installed (pip install yolov9[litert])",
)
needs_coreml = pytest.mark.skipif(
    bool(_missing("coremltools")), reason="coremltools not installed (pip install yolov9[coreml])"
)
IMGSZ = 96
NAMES = list("abcd")


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gelan-t with varied weights, four classes (the shapes dataset's), some detections."""
    torch.manual_seed(0)
    model = randomize_(build_model("gelan-t", num_classes=4), seed=3)
    with torch.no_grad():
        for cls in model.head.cls:
            cls[-1].bias.fill_(0.0)
    path = tmp_path_factory.mktemp("edge") / "g.pt"
    return save_checkpoint(path, model, NAMES, meta={"imgsz": IMGSZ})


def _images(n: int) -> torch.Tensor:
    rng = np.random.default_rng(1)
    scenes = [make_scene(rng, (IMGSZ, IMGSZ))[0] for _ in range(n)]
    return torch.from_numpy(np.stack(scenes)).permute(0, 3, 1, 2).float() / 255


def _torch_outputs(weights: Path, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        return ExportGraph(inference_graph(load_weights(weights).model))(images)


def _assert_relative(got: torch.Tensor, want: torch.Tensor, rel: float) -> None:
    """Every element within ``rel`` of the output's largest magnitude (boxes: the image
    size; scores: 1)."""
    assert got.shape == want.shape
    err = float((got - want).abs().max() / want.abs().max())
    assert err < rel, f"largest difference {err:.2e} of the output's range (limit {rel:g})"


@pytest.fixture(scope="module")
def ncnn_param(weights: Path) -> Path:
    report = export(weights, weights.parent / "g", ExportOptions(format="ncnn", imgsz=IMGSZ))
    assert report.max_diff["boxes"] < 1e-2  # the exporter's own check, in pixels
    return report.path


@needs_ncnn
def test_ncnn_equals_pytorch(weights: Path, ncnn_param: Path) -> None:
    assert ncnn_param.name == "g.param"
    assert ncnn_param.parent.name == "g_ncnn"
    images = _images(2)  # a batch runs image by image
    boxes, scores = _torch_outputs(weights, images)
    for source in (ncnn_param, ncnn_param.with_suffix(".bin"), ncnn_param.parent):
        backend = load_backend(source)
        assert backend.kind == "ncnn"
        assert backend.names == NAMES
        assert backend.fixed_shape == (IMGSZ, IMGSZ)
        got = backend.infer(images)
        _assert_relative(got.boxes, boxes, 1e-3)
        _assert_relative(got.scores, scores, 1e-3)


@needs_ncnn
def test_ncnn_without_its_bin_or_names_is_refused(ncnn_param: Path, tmp_path: Path) -> None:
    from yolov9.errors import CheckpointError

    lone = tmp_path / "lone.param"
    lone.write_bytes(ncnn_param.read_bytes())
    with pytest.raises(CheckpointError, match=r"lone\.bin: not found"):
        load_backend(lone)
    (tmp_path / "lone.bin").write_bytes(ncnn_param.with_suffix(".bin").read_bytes())
    with pytest.raises(CheckpointError, match=r"lone\.json: not found"):
        load_backend(lone)


@pytest.mark.slow  # ~9 s: a second pnnx conversion
@needs_ncnn
def test_ncnn_segmentation_carries_mask_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = randomize_(build_model("gelan-t-seg", num_classes=2), seed=4)
    weights = save_checkpoint(tmp_path / "s.pt", model, ["a", "b"], meta={"imgsz": IMGSZ})
    report = export(weights, tmp_path / "s", ExportOptions(format="ncnn", imgsz=IMGSZ))
    backend = load_backend(report.path)
    assert backend.task == "segment"
    images = _images(1)
    want = _torch_outputs(weights, images)
    got = backend.infer(images)
    for g, w in zip(got[: len(want)], want, strict=True):  # Decoded: fields beyond the task None
        _assert_relative(g, w, 1e-3)


@pytest.fixture(scope="module")
def tflite(weights: Path) -> Path:
    report = export(weights, weights.parent / "g", ExportOptions(format="tflite", imgsz=IMGSZ))
    assert report.path.name == "g.tflite"
    return report.path


@needs_litert
def test_litert_equals_pytorch(weights: Path, tflite: Path) -> None:
    backend = load_backend(tflite)
    assert (backend.kind, backend.names, backend.fixed_shape) == ("litert", NAMES, (96, 96))
    images = _images(2)
    boxes, scores = _torch_outputs(weights, images)
    got = backend.infer(images)
    _assert_relative(got.boxes, boxes, 1e-3)
    _assert_relative(got.scores, scores, 1e-3)


@needs_litert
def test_litert_fp16_and_int8_run_through_the_same_backend(
    weights: Path, tflite: Path, tmp_path: Path
) -> None:
    """The quantisers the exporter uses, on the fp32 file (the slow tests run the whole
    export): fp16 weights stay close; INT8 takes an int8 input, quantised by the backend,
    with the head's last convolutions and the decoding tail in float."""
    from yolov9.deploy.litert import _fp16_recipe, _int8_recipe, _quantize, float_convolutions
    from yolov9.inference.edge import LiteRtBackend, read_metadata

    flat = tflite.read_bytes()
    images = _images(1)
    boxes, scores = _torch_outputs(weights, images)
    fp16 = tmp_path / "g_fp16.tflite"
    fp16.write_bytes(_quantize(flat, _fp16_recipe()))
    assert read_metadata(fp16.read_bytes())["names"] == NAMES  # kept through quantisation
    got = LiteRtBackend(fp16).infer(images)
    _assert_relative(got.boxes, boxes, 2e-3)
    _assert_relative(got.scores, scores, 2e-3)
    assert fp16.stat().st_size < 0.6 * tflite.stat().st_size

    calibration = [x[None].numpy() for x in _images(4)]
    flat8 = _quantize(flat, _int8_recipe(), calibration)
    int8 = tmp_path / "g_int8.tflite"
    int8.write_bytes(flat8)
    # in float: only each head branch's last convolution (3 levels x box and class logits)
    kept = float_convolutions(flat8)
    assert len(kept) == 6
    assert all("Conv2d_2" in name for name in kept)
    assert len(float_convolutions(flat)) > 50
    got8 = LiteRtBackend(int8).infer(images)
    _assert_relative(got8.boxes, boxes, 0.05)  # quantised, not broken
    assert (got8.scores - scores).abs().max() < 0.1


@pytest.mark.slow  # ~80 s: two conversions, calibration and four evaluations
@needs_litert
def test_litert_int8_and_fp16_exports_report_ap(
    weights: Path, shapes: dict, tmp_path: Path
) -> None:
    opts = ExportOptions(
        format="tflite", imgsz=IMGSZ, int8=True, data=str(shapes["yolo"]), calibration_images=12
    )
    report = export(weights, tmp_path / "q", opts)
    assert report.path.name == "q_int8.tflite"
    assert report.metrics is not None
    assert report.metrics["fp32_model"].endswith("q.tflite")
    assert report.metrics["val_images"] == 12
    for key in ("AP_fp32", "AP_int8", "AP50_fp32", "AP50_int8"):
        assert 0.0 <= report.metrics[key] <= 1.0
    assert any(note.startswith("INT8 (tflite, static): AP") for note in report.notes)
    assert load_backend(report.path).kind == "litert-int8"
    half = export(weights, tmp_path / "h", ExportOptions(format="tflite", imgsz=IMGSZ, half=True))
    assert half.path.name == "h_fp16.tflite"
    assert half.max_diff["scores"] < 2e-3


@needs_ncnn
@needs_litert
def test_predict_and_val_accept_edge_exports(
    weights: Path, ncnn_param: Path, tflite: Path, shapes: dict
) -> None:
    from yolov9.api import Detector
    from yolov9.data.dataset import load_dataset
    from yolov9.engine.evaluator import Evaluator

    image = (_images(1)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    want = Detector.from_pretrained(weights, device="cpu").predict(image, conf=0.3)[0]
    ds = load_dataset(shapes["yolo"], "val")
    evaluator = Evaluator(ds, imgsz=IMGSZ, batch_size=4, progress=False)
    ap = evaluator.run(load_backend(weights)).metrics.AP
    for path in (ncnn_param, tflite):
        got = Detector.from_pretrained(path).predict(image, conf=0.3)[0]
        assert len(got) == len(want) > 0
        # the same boxes: in any order, and NMS may keep the other of two overlapping anchors
        # whose scores differ by 1e-7 (this random model has such ties; 0.3 px apart here)
        gap = np.abs(got.boxes[:, None] - want.boxes[None]).max(-1)
        assert gap.min(1).max() < 0.5
        assert gap.min(0).max() < 0.5
        assert abs(evaluator.run(load_backend(path)).metrics.AP - ap) < 1e-3


@pytest.fixture(scope="module")
def mlpackage(weights: Path) -> Path:
    report = export(weights, weights.parent / "g", ExportOptions(format="coreml", imgsz=IMGSZ))
    if sys.platform != "darwin":
        assert any("macOS only" in note for note in report.notes)
    return report.path


@needs_coreml
def test_coreml_declares_inputs_outputs_and_metadata(mlpackage: Path) -> None:
    import json

    import coremltools as ct

    spec = ct.models.MLModel(str(mlpackage), skip_model_load=True).get_spec()
    (inp,) = spec.description.input
    assert inp.name == "images"
    assert list(inp.type.multiArrayType.shape) == [1, 3, IMGSZ, IMGSZ]
    assert [o.name for o in spec.description.output] == ["boxes", "scores"]
    meta = json.loads(spec.description.metadata.userDefined["yolov9"])
    assert (meta["names"], meta["imgsz"], meta["task"]) == (NAMES, IMGSZ, "detect")


@needs_coreml
@pytest.mark.skipif(sys.platform == "darwin", reason="checks the message given off macOS")
def test_coreml_runtime_off_macos_says_so(mlpackage: Path) -> None:
    with pytest.raises(ConfigError, match="macOS only"):
        load_backend(mlpackage)


@needs_coreml
@pytest.mark.skipif(sys.platform != "darwin", reason="CoreML runs on macOS only")
def test_coreml_equals_pytorch_on_macos(weights: Path, mlpackage: Path) -> None:
    images = _images(1)
    boxes, scores = _torch_outputs(weights, images)
    got = load_backend(mlpackage).infer(images)
    _assert_relative(got.boxes, boxes, 1e-3)
    _assert_relative(got.scores, scores, 1e-3)


@pytest.mark.slow  # ~20 s: a second conversion
@needs_coreml
def test_coreml_nms_pipeline_has_vision_outputs(weights: Path, tmp_path: Path) -> None:
    import coremltools as ct

    opts = ExportOptions(format="coreml", imgsz=IMGSZ, nms=True, iou=0.5, conf=0.3)
    report = export(weights, tmp_path / "n", opts)
    spec = ct.models.MLModel(str(report.path), skip_model_load=True).get_spec()
    assert spec.WhichOneof("Type") == "pipeline"
    assert [o.name for o in spec.description.output] == ["confidence", "coordinates"]
    (inp,) = spec.description.input  # Vision needs an image input
    assert inp.type.WhichOneof("Type") == "imageType"
    assert (inp.type.imageType.width, inp.type.imageType.height) == (IMGSZ, IMGSZ)
    nms = spec.pipeline.models[-1].nonMaximumSuppression
    assert nms.pickTop.perClass
    assert (round(nms.iouThreshold, 3), round(nms.confidenceThreshold, 3)) == (0.5, 0.3)
    assert list(nms.stringClassLabels.vector) == NAMES


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (ExportOptions(format="ncnn", nms=True), "--nms is for --format onnx, openvino, coreml"),
        (ExportOptions(format="tflite", dynamic=True), "tflite models take the --imgsz"),
        (ExportOptions(format="ncnn", int8=True, data="d.yaml"), "openvino or tflite"),
        (ExportOptions(format="tflite", int8=True), "needs --data"),
        (ExportOptions(format="tflite", int8=True, half=True, data="d.yaml"), "choose one"),
        (ExportOptions(format="tflite", int8=True, data="d", int8_max_drop=0.01), "OpenVINO"),
        (
            ExportOptions(format="tflite", int8=True, data="d", int8_preset="mixed"),
            "is for OpenVINO",
        ),
        (ExportOptions(format="coreml", nms=True, multi_label=True), "one class per box"),
        (ExportOptions(format="ncnn", imgsz=0), "positive multiple of 32"),
    ],
)
def test_options_a_format_cannot_honour_are_refused(
    opts: ExportOptions, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=message):
        export(tmp_path / "missing.pt", None, opts)


def test_a_segmentation_model_with_coreml_nms_is_refused(tmp_path: Path) -> None:
    model = build_model("gelan-t-seg", num_classes=2)
    weights = save_checkpoint(tmp_path / "s.pt", model, ["a", "b"], meta={"imgsz": IMGSZ})
    with pytest.raises(ConfigError, match="CoreML's NMS cannot carry mask coefficients"):
        export(weights, None, ExportOptions(format="coreml", nms=True, imgsz=IMGSZ))


@pytest.mark.parametrize(
    ("fmt", "module", "extra"),
    [
        ("ncnn", "pnnx", "ncnn"),
        ("tflite", "litert_torch", "litert"),
        ("coreml", "coremltools", "coreml"),
    ],
)
def test_a_missing_converter_names_its_extra(
    weights: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    module: str,
    extra: str,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a)
    )
    with pytest.raises(ConfigError, match=rf"pip install 'yolov9\[{extra}\]'"):
        export(weights, tmp_path / "m", ExportOptions(format=fmt, imgsz=IMGSZ))
