"""``yolov9 export``: ONNX (optionally with NMS), OpenVINO (fp32/fp16/INT8) and TorchScript.

Every export starts from the inference graph: the auxiliary branch is removed and
BatchNorm/RepConvN are fused. The exported file is then run by its runtime on a test image and
compared with PyTorch; the largest difference is reported.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from yolov9.checkpoints import LoadedWeights, load_weights
from yolov9.deploy.formats import FORMATS
from yolov9.errors import ConfigError
from yolov9.inference.graph import inference_graph
from yolov9.models import YOLOv9

log = logging.getLogger(__name__)


class ExportGraph(nn.Module):
    """images (B, 3, H, W) in [0, 1] -> boxes (B, A, 4) xyxy pixels, scores (B, A, C)."""

    def __init__(self, model: YOLOv9) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.head.decode(self.model(images).main)


# an INT8 export that loses more AP than this (absolute) gets a note saying what to try
INT8_DROP_WARN = 0.01


@dataclass
class ExportOptions:
    format: str = "onnx"
    imgsz: int = 640
    dynamic: bool = False  # dynamic batch (and image size) instead of 1 x imgsz x imgsz
    half: bool = False  # fp16 weights
    nms: bool = False  # NMS inside the graph (ONNX NonMaxSuppression)
    max_det: int = 100
    conf: float = 0.25
    iou: float = 0.45
    multi_label: bool = False
    simplify: bool = True
    opset: int = 18
    int8: bool = False  # OpenVINO post-training quantisation (needs ``data``)
    data: str | None = None
    calibration_images: int = 300
    # NNCF preset (docs/benchmarks.md, gelan-t at 640 on 2 AVX-512 cores; AP on our small-data
    # model): performance, symmetric activations: 2.1x faster than fp32, -0.7 AP; mixed,
    # asymmetric activations: 1.3x, -0.2 AP.
    int8_preset: str = "performance"
    # with a value: NNCF accuracy control keeps the most sensitive layers in float until the
    # AP (0-1 scale, as printed) on the validation split is within this of fp32
    int8_max_drop: float | None = None
    # score fp32 and INT8 on ``data``'s validation split (which must have the model's
    # classes); off: calibrate only (e.g. on generated images, for timing)
    int8_check: bool = True


@dataclass
class ExportReport:
    path: Path
    format: str
    max_diff: dict[str, float]  # vs PyTorch on a test image
    notes: list[str]
    metrics: dict[str, Any] | None = None  # INT8: AP before and after


def metadata(loaded: LoadedWeights, model: YOLOv9, opts: ExportOptions) -> dict[str, Any]:
    from yolov9.version import __version__

    return {
        "model": model.name,
        "names": loaded.names,
        "imgsz": opts.imgsz,
        "stride": 32,
        "dynamic": opts.dynamic,
        "nms": opts.nms,
        "max_det": opts.max_det,
        "conf": opts.conf,
        "iou": opts.iou,
        "multi_label": opts.multi_label,
        "half": opts.half,
        "yolov9_version": __version__,
        "source": str(loaded.path),
    }


def export_onnx(model: YOLOv9, path: Path, opts: ExportOptions, meta: dict[str, Any]) -> Path:
    import onnx

    graph = ExportGraph(model)
    example = torch.rand(1, 3, opts.imgsz, opts.imgsz)
    kwargs: dict[str, Any] = {}
    if opts.dynamic:
        batch = torch.export.Dim("batch", min=1, max=1024)
        h, w = torch.export.Dim("h32", min=1, max=256), torch.export.Dim("w32", min=1, max=256)
        kwargs["dynamic_shapes"] = {"images": {0: batch, 2: 32 * h, 3: 32 * w}}
    if opts.half:
        graph, example = graph.half(), example.half()
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # e.g. "torchvision is not installed": not relevant here
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            graph,
            (example,),
            None,
            input_names=["images"],
            output_names=["boxes", "scores"],
            opset_version=opts.opset,
            dynamo=True,
            **kwargs,
        )
    quiet.setLevel(level)
    proto = program.model_proto
    if opts.nms:
        from yolov9.deploy.onnx_nms import append_nms

        if opts.half:
            raise ConfigError("--nms with --half is not supported; export fp32 with NMS")
        proto = append_nms(
            proto, max_det=opts.max_det, iou=opts.iou, conf=opts.conf, multi_label=opts.multi_label
        )
    if opts.simplify:
        try:
            import onnxslim

            proto = onnxslim.slim(proto)
        except Exception as e:
            log.warning("onnxslim could not simplify the graph (%s); keeping it as is", e)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = "yolov9", json.dumps(meta)
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


def export_openvino(onnx_path: Path, out_dir: Path, meta: dict[str, Any], half: bool) -> Path:
    import openvino as ov

    ov_model = ov.convert_model(str(onnx_path))
    ov_model.set_rt_info(json.dumps(meta), ["yolov9"])
    out_dir.mkdir(parents=True, exist_ok=True)
    xml = out_dir / f"{out_dir.name}.xml"
    ov.save_model(ov_model, str(xml), compress_to_fp16=half)
    return xml


def export_torchscript(
    model: YOLOv9, path: Path, opts: ExportOptions, meta: dict[str, Any]
) -> Path:
    graph = ExportGraph(model)
    example = torch.rand(1, 3, opts.imgsz, opts.imgsz)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, example, strict=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # TorchScript is deprecated upstream; kept for old runtimes
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, str(path), _extra_files={"yolov9.json": json.dumps(meta)})
    return path


def _verify(path: Path, model: YOLOv9, opts: ExportOptions) -> dict[str, float]:
    """Run the export on a test image and compare with PyTorch."""
    from yolov9.data.synthetic import make_scene
    from yolov9.inference.loader import load_backend
    from yolov9.ops.nms import non_max_suppression

    image = make_scene(np.random.default_rng(0), (opts.imgsz, opts.imgsz))[0]
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    batch = x.repeat(2, 1, 1, 1) if opts.dynamic else x
    with torch.no_grad():
        boxes, scores = ExportGraph(model)(batch)
    backend = load_backend(path, device="cpu")
    if not backend.has_nms:
        got_boxes, got_scores = backend.infer(batch)[:2]
        return {
            "boxes": float((got_boxes - boxes).abs().max()),
            "scores": float((got_scores - scores).abs().max()),
        }
    want = non_max_suppression(
        boxes,
        scores,
        conf_threshold=opts.conf,
        iou_threshold=opts.iou,
        max_det=opts.max_det,
        multi_label=opts.multi_label,
    )
    got = backend.detect(
        batch, conf=opts.conf, iou=opts.iou, max_det=opts.max_det, multi_label=opts.multi_label
    )
    diff = {"boxes": 0.0, "scores": 0.0, "count": 0.0}
    for a, b in zip(want, got, strict=True):
        diff["count"] = max(diff["count"], abs(len(a) - len(b)))
        n = min(len(a), len(b))
        if n:
            diff["boxes"] = max(diff["boxes"], float((a.boxes[:n] - b.boxes[:n]).abs().max()))
            diff["scores"] = max(diff["scores"], float((a.scores[:n] - b.scores[:n]).abs().max()))
    return diff


def int8_notes(metrics: dict[str, Any], opts: ExportOptions) -> list[str]:
    """What the INT8 export should tell its user: AP before and after, layers left in float,
    and what to try when the AP dropped too much."""
    notes = []
    if "AP_int8" in metrics:
        notes.append(
            f"INT8 ({opts.int8_preset}): AP {metrics['AP_fp32']:.4f} -> {metrics['AP_int8']:.4f}"
            f" on {metrics['val_images']} validation images"
        )
    else:
        notes.append(f"INT8 ({opts.int8_preset}): calibrated only, AP not checked")
    if metrics["float_convolutions"]:
        notes.append(
            f"INT8: {len(metrics['float_convolutions'])} convolutions kept in float: "
            + ", ".join(metrics["float_convolutions"])
        )
    limit = INT8_DROP_WARN if opts.int8_max_drop is None else opts.int8_max_drop
    if "AP_int8" in metrics and metrics["AP_fp32"] - metrics["AP_int8"] > limit:
        hint = (
            "try --int8-preset mixed (slower, usually closer to fp32) or "
            if opts.int8_preset == "performance"
            else ""
        )
        notes.append(
            f"INT8 lost more than {limit:g} AP: {hint}more --calibration-images, "
            "or deploy fp32/bf16"
        )
    return notes


def export(weights: str | Path, out: str | Path | None, opts: ExportOptions) -> ExportReport:
    if opts.format not in FORMATS:
        raise ConfigError(f"format must be one of {FORMATS}, got {opts.format!r}")
    if opts.imgsz % 32:
        raise ConfigError(f"imgsz must be a multiple of 32, got {opts.imgsz}")
    if opts.int8 and (opts.format != "openvino" or not opts.data):
        raise ConfigError("--int8 is for --format openvino and needs --data for calibration")
    if opts.int8_max_drop is not None and not (opts.int8 and opts.int8_check):
        raise ConfigError("--int8-max-drop applies to --int8 exports checked on --data")
    loaded = load_weights(weights)
    if loaded.model.task != "detect":
        raise ConfigError(
            f"{weights}: exporting segmentation models is not available yet (it comes with "
            "seg training); predict and validate it with PyTorch, or convert it"
        )
    model = inference_graph(loaded.model, "cpu", channels_last=False)
    meta = metadata(loaded, model, opts)
    stem = Path(out) if out else loaded.path.with_suffix("")
    notes: list[str] = []
    if opts.format == "torchscript":
        path = export_torchscript(model, stem.with_suffix(".torchscript"), opts, meta)
    else:
        onnx_path = (
            stem.with_suffix(".onnx")
            if opts.format == "onnx"
            else stem.with_name(stem.name + "_tmp.onnx")
        )
        export_onnx(model, onnx_path, opts, meta)
        path = onnx_path
        if opts.format == "openvino":
            # with --int8 this fp32 model stays next to the INT8 one, for comparison
            folder = stem.with_name(stem.name + "_openvino")
            path = export_openvino(onnx_path, folder, meta, opts.half and not opts.int8)
            onnx_path.unlink()
    metrics = None
    if opts.int8:
        from yolov9.deploy.quantize import quantize_openvino

        path, metrics = quantize_openvino(path, loaded, opts)
        notes += int8_notes(metrics, opts)
    diff = _verify(path, model, opts) if not opts.half or opts.format == "openvino" else {}
    if opts.half and opts.format != "openvino":
        notes.append("fp16 export not run here (CPU runtimes); verify it on the target device")
    return ExportReport(path, opts.format, diff, notes, metrics)
