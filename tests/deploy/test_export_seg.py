"""Exports of segmentation models: the exported files give the PyTorch model's boxes, mask
coefficients and prototypes (with NMS inside: each kept detection's coefficients), so that
``predict`` and ``val`` on them produce the PyTorch model's masks."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from tests.conftest import randomize_
from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.data.synthetic import make_scene
from yolov9.deploy.export import ExportOptions, ExportReport, export, export_openvino
from yolov9.deploy.onnx_nms import append_nms
from yolov9.inference import load_backend
from yolov9.inference.backends import Decoded, nms_with_masks
from yolov9.inference.result import Result
from yolov9.models import build_model

NAMES = ["a", "b", "c"]
SIZE = 96

needs_openvino = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None,
    reason="openvino is not installed (pip install yolov9[export])",
)
needs_nncf = pytest.mark.skipif(
    importlib.util.find_spec("nncf") is None or importlib.util.find_spec("openvino") is None,
    reason="nncf/openvino are not installed (pip install yolov9[export])",
)


def _scene(seed: int = 0) -> np.ndarray:
    return make_scene(np.random.default_rng(seed), (SIZE, SIZE))[0]


@pytest.fixture(scope="module")
def seg_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A yolov9-t-seg (PGI; exported as gelan-t-dseg) with detections on the test scene and
    partial masks: the prototypes' last BatchNorm standardises each map over that scene, so
    that the maps vary across the image and each mask covers part of its box (a random
    network's masks are empty or fill their box)."""
    torch.manual_seed(0)
    model = randomize_(build_model("yolov9-t-seg", len(NAMES)), seed=1).eval()
    x = torch.from_numpy(_scene()).permute(2, 0, 1)[None].float() / 255
    out = model.head.proto.out
    seen: dict[str, torch.Tensor] = {}
    hook = out.conv.register_forward_hook(lambda _m, _i, y: seen.setdefault("pre", y))
    with torch.no_grad():
        model(x)
        hook.remove()
        pre = seen["pre"][0]
        out.bn.running_mean.copy_(pre.mean((1, 2)))
        out.bn.running_var.copy_(pre.var((1, 2)))
        out.bn.weight.fill_(1.0)
        out.bn.bias.zero_()
        for cls in model.head.cls:
            cls[-1].bias.fill_(0.0)  # confident enough for detections at conf 0.3
        for coef in model.head.coef:
            coef[-1].bias.zero_()
    path = tmp_path_factory.mktemp("segw") / "seg.pt"
    return save_checkpoint(path, model, NAMES, meta={"imgsz": SIZE})


# the NMS settings of the tests (and those baked into the export with NMS)
NMS: dict[str, Any] = {"conf": 0.3, "iou": 0.5, "max_det": 20}


@pytest.fixture(scope="module")
def seg_onnx(seg_weights: Path) -> ExportReport:
    return export(seg_weights, seg_weights.parent / "plain", ExportOptions(imgsz=SIZE))


@pytest.fixture(scope="module")
def seg_onnx_nms(seg_weights: Path) -> ExportReport:
    opts = ExportOptions(imgsz=SIZE, nms=True, **NMS)
    return export(seg_weights, seg_weights.parent / "nms", opts)


def _outputs(path: Path) -> dict[str, list[Any]]:
    import onnxruntime as ort

    return {o.name: o.shape for o in ort.InferenceSession(str(path)).get_outputs()}


def test_onnx_outputs_metadata_and_check(
    seg_onnx: ExportReport, seg_onnx_nms: ExportReport
) -> None:
    anchors = 12 * 12 + 6 * 6 + 3 * 3  # strides 8, 16, 32
    assert _outputs(seg_onnx.path) == {
        "boxes": [1, anchors, 4],
        "scores": [1, anchors, 3],
        "coefficients": [1, anchors, 32],
        "prototypes": [1, 32, SIZE // 4, SIZE // 4],
    }
    assert _outputs(seg_onnx_nms.path) == {
        "num_dets": [1, 1],
        "det_boxes": [1, 20, 4],
        "det_scores": [1, 20],
        "det_classes": [1, 20],
        "det_coefficients": [1, 20, 32],
        "prototypes": [1, 32, SIZE // 4, SIZE // 4],
    }
    meta = {p.key: p.value for p in onnx.load(str(seg_onnx.path)).metadata_props}
    assert '"model": "gelan-t-dseg"' in meta["yolov9"]
    assert '"task": "segment"' in meta["yolov9"]
    assert '"num_masks": 32' in meta["yolov9"]
    # the exporter's own check covers the mask outputs
    for report in (seg_onnx, seg_onnx_nms):
        assert report.max_diff["coefficients"] < 1e-4
        assert report.max_diff["prototypes"] < 1e-4
        assert report.max_diff["boxes"] < 1e-3
    assert seg_onnx_nms.max_diff["count"] == 0
    for report in (seg_onnx, seg_onnx_nms):
        backend = load_backend(report.path)
        assert backend.task == "segment"
        assert backend.has_nms is (report is seg_onnx_nms)


def _same_results(want: Result, got: Result) -> None:
    """Same detections, and masks equal but for the odd pixel whose probability sits at the
    0.5 threshold."""
    assert len(want) == len(got) > 3
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-4)
    np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-2)
    assert want.masks is not None
    assert got.masks is not None
    a, b = want.masks.dense(), got.masks.dense()
    assert a.shape == b.shape
    areas = a.sum((1, 2))
    assert (areas > 0).all()  # every mask is partial: the comparison means something
    boxes = np.ceil(want.boxes[:, 2:]) - np.floor(want.boxes[:, :2])
    assert (areas < 0.95 * boxes.prod(1)).all()
    assert (a != b).sum() <= 2


@pytest.fixture(scope="module")
def torch_result(seg_weights: Path) -> Result:
    detector = Detector.from_pretrained(seg_weights, device="cpu")
    return detector.predict(_scene(), conf=NMS["conf"], iou=NMS["iou"], max_det=NMS["max_det"])[0]


def _predict(path: Path) -> Result:
    detector = Detector.from_pretrained(path)
    assert detector.task == "segment"
    return detector.predict(_scene(), conf=NMS["conf"], iou=NMS["iou"], max_det=NMS["max_det"])[0]


def test_onnx_masks_equal_pytorch(
    seg_onnx: ExportReport, seg_onnx_nms: ExportReport, torch_result: Result
) -> None:
    _same_results(torch_result, _predict(seg_onnx.path))
    _same_results(torch_result, _predict(seg_onnx_nms.path))


@pytest.mark.slow
def test_torchscript_masks_equal_pytorch(seg_weights: Path, torch_result: Result) -> None:
    report = export(seg_weights, seg_weights.parent / "ts", ExportOptions("torchscript", SIZE))
    assert report.max_diff["coefficients"] < 1e-5
    assert report.max_diff["prototypes"] < 1e-5
    _same_results(torch_result, _predict(report.path))


@needs_openvino
def test_openvino_masks_equal_pytorch(
    seg_onnx: ExportReport, seg_onnx_nms: ExportReport, torch_result: Result, tmp_path: Path
) -> None:
    """The OpenVINO conversion of both ONNX forms (``export --format openvino`` runs it on
    the same ONNX file; the INT8 test below goes through ``export`` itself)."""
    for report in (seg_onnx, seg_onnx_nms):
        from_onnx = load_backend(report.path)
        xml = export_openvino(
            report.path, tmp_path / f"{report.path.stem}_openvino", _meta(report.path), False
        )
        backend = load_backend(xml)
        assert backend.task == "segment"
        assert backend.has_nms == from_onnx.has_nms
        _same_results(torch_result, _predict(xml))


def _meta(path: Path) -> dict[str, Any]:
    import json

    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props["yolov9"])  # type: ignore[no-any-return]


def _identity_graph(batch: int | str, anchors: int, classes: int, masks: int) -> onnx.ModelProto:
    """A graph whose outputs are its inputs: a segmentation head's four outputs."""
    shapes = {
        "boxes": [batch, anchors, 4],
        "scores": [batch, anchors, classes],
        "coefficients": [batch, anchors, masks],
        "prototypes": [batch, masks, 8, 8],
    }
    inputs = [
        helper.make_tensor_value_info(f"in_{k}", TensorProto.FLOAT, s) for k, s in shapes.items()
    ]
    outputs = [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in shapes.items()]
    nodes = [helper.make_node("Identity", [f"in_{k}"], [k]) for k in shapes]
    graph = helper.make_graph(nodes, "head", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.mark.parametrize("multi_label", [False, True])
def test_nms_gathers_each_detections_coefficients(multi_label: bool) -> None:
    """append_nms on a segmentation head's outputs, batch of 3 with different counts per
    image: ``det_coefficients`` are the coefficients of each kept detection's anchor, in the
    order of our NMS, and the prototypes pass through."""
    import onnxruntime as ort

    b, a, c, m = 3, 200, 4, 5
    model = append_nms(
        _identity_graph("batch", a, c, m), max_det=15, iou=0.5, conf=0.3, multi_label=multi_label
    )
    onnx.checker.check_model(model)
    names = [o.name for o in model.graph.output]
    assert names == [
        "num_dets",
        "det_boxes",
        "det_scores",
        "det_classes",
        "det_coefficients",
        "prototypes",
    ]
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(b, a, 2, generator=g) * 80
    boxes = torch.cat((xy, xy + 4 + torch.rand(b, a, 2, generator=g) * 20), -1)
    scores = torch.rand(b, a, c, generator=g)
    scores[1, 6:] = 0  # fewer candidates in the other images: different counts per image
    scores[2, 2:] = 0
    decoded = Decoded(boxes, scores, torch.randn(b, a, m, generator=g), torch.randn(b, m, 8, 8))
    session = ort.InferenceSession(model.SerializeToString())
    feed = {
        f"in_{k}": v.numpy()
        for k, v in zip(("boxes", "scores", "coefficients", "prototypes"), decoded[:4], strict=True)
    }
    num, det_boxes, det_scores, _, det_coeffs, protos = session.run(None, feed)
    want = nms_with_masks(
        decoded, conf_threshold=0.3, iou_threshold=0.5, max_det=15, multi_label=multi_label
    )
    counts = [len(w) for w in want]
    assert num[:, 0].tolist() == counts
    assert len(set(counts)) > 1  # images differ, so a batch mix-up would show
    np.testing.assert_array_equal(protos, decoded.protos.numpy())
    for i, w in enumerate(want):
        n = counts[i]
        assert w.coeffs is not None
        np.testing.assert_allclose(det_scores[i, :n], w.scores.numpy(), rtol=1e-6)
        np.testing.assert_allclose(det_boxes[i, :n], w.boxes.numpy(), rtol=1e-6)
        np.testing.assert_array_equal(det_coeffs[i, :n], w.coeffs.numpy())
        assert not det_coeffs[i, n:].any()


def test_val_scores_masks_of_exports(
    seg_weights: Path, seg_onnx: ExportReport, seg_onnx_nms: ExportReport, tmp_path: Path
) -> None:
    """``yolov9 val`` on both ONNX forms: the PyTorch model's predictions, masks included."""
    from tests.data.seg_scenes import write_seg_dataset
    from yolov9.data.dataset import load_dataset
    from yolov9.engine.evaluator import Evaluator
    from yolov9.ops.masks import decode_rle

    forms = write_seg_dataset(tmp_path / "data", images=2, seed=2)
    ds = load_dataset(forms["yolo"], "val")
    # the protocol of the export with NMS (its baked thresholds), square inputs as exports
    evaluator = Evaluator(
        ds,
        imgsz=SIZE,
        batch_size=1,
        rect=False,
        workers=0,
        progress=False,
        multi_label=False,
        **NMS,
    )
    runs = {
        name: evaluator.run(load_backend(path))
        for name, path in (
            ("torch", seg_weights),
            ("onnx", seg_onnx.path),
            ("nms", seg_onnx_nms.path),
        )
    }
    want = runs["torch"].predictions
    assert len(want) > 5
    for name in ("onnx", "nms"):
        result = runs[name]
        assert result.mask_metrics is not None
        got = result.predictions
        assert [p["category_id"] for p in got] == [p["category_id"] for p in want]
        for p, q in zip(want, got, strict=True):
            np.testing.assert_allclose(q["bbox"], p["bbox"], atol=0.05)
            a, b = decode_rle(p["segmentation"]), decode_rle(q["segmentation"])
            assert (a != b).sum() <= 2
        torch_masks = runs["torch"].mask_metrics
        assert torch_masks is not None
        assert abs(result.mask_metrics.AP - torch_masks.AP) < 1e-3


@needs_nncf
@pytest.mark.slow  # ~50 s: an OpenVINO export, NNCF calibration and two evaluations
def test_openvino_int8_segmentation(seg_weights: Path, tmp_path: Path) -> None:
    """INT8 of a segmentation model: quantised, scored by box and mask AP on a split with
    masks, and predicting masks; a split without masks is refused before any work."""
    from tests.data.seg_scenes import write_seg_dataset
    from yolov9.errors import ConfigError

    forms = write_seg_dataset(tmp_path / "data", images=3, seed=3)
    boxes_only = _without_masks(forms["yolo"], tmp_path / "boxes")
    opts = ExportOptions("openvino", SIZE, int8=True, data=str(boxes_only), calibration_images=3)
    with pytest.raises(ConfigError, match="no masks"):
        export(seg_weights, tmp_path / "refused", opts)
    assert not list(tmp_path.glob("refused*"))

    opts.data = str(forms["yolo"])
    report = export(seg_weights, tmp_path / "q", opts)
    assert report.path.parent.name == "q_int8_openvino"
    assert "FakeQuantize" in report.path.read_text()
    assert report.metrics is not None
    for key in ("AP", "mask_AP", "mask_AP50"):
        assert 0.0 <= report.metrics[f"{key}_fp32"] <= 1.0
        assert 0.0 <= report.metrics[f"{key}_int8"] <= 1.0
    assert any("mask AP" in note for note in report.notes)
    int8 = load_backend(report.path)
    assert int8.kind == "openvino-int8"
    assert int8.task == "segment"
    result = _predict(report.path)
    assert result.masks is not None
    assert len(result.masks) == len(result)


def _without_masks(desc: Path, root: Path) -> Path:
    """The dataset ``desc`` (YOLO segmentation txt) with boxes instead of polygons."""
    import yaml

    src = Path(yaml.safe_load(desc.read_text())["path"])
    (root / "labels").mkdir(parents=True)
    (root / "images").symlink_to(src / "images")
    for txt in (src / "labels").glob("*.txt"):
        lines = []
        for line in txt.read_text().split("\n"):
            if line.strip():
                cls, *xy = line.split()
                pts = np.asarray(xy, float).reshape(-1, 2)
                (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
                lines.append(f"{cls} {(x1 + x2) / 2} {(y1 + y2) / 2} {x2 - x1} {y2 - y1}")
        (root / "labels" / txt.name).write_text("\n".join(lines) + "\n")
    out = root / "data.yaml"
    out.write_text(yaml.safe_dump({"path": str(root), "val": "images", "names": list(NAMES)}))
    return out
