"""``yolov9 export``: ONNX (optionally with NMS), OpenVINO (fp32/fp16/INT8), TorchScript, and
for edge devices NCNN, LiteRT (fp32/fp16/INT8) and CoreML (optionally with NMS).

Every export starts from the inference graph: the auxiliary branch is removed and
BatchNorm/RepConvN are fused. The exported file is then run by its runtime on a test image and
compared with PyTorch; the largest difference is reported.

Segmentation models export the same way, with two more outputs: each anchor's mask
``coefficients`` and the image's ``prototypes`` (with NMS inside: each kept detection's
``det_coefficients`` and the ``prototypes``). Masks are computed from them after the runtime,
by the code that computes them for the PyTorch model (:mod:`yolov9.tasks.segment.masks`).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolov9.checkpoints import LoadedWeights, load_weights
from yolov9.deploy.caption_decoder import decoder_path
from yolov9.deploy.formats import DYNAMIC_FORMATS, FORMATS, INT8_FORMATS, NMS_FORMATS
from yolov9.deploy.graph import ExportGraph, ExportOptions, ExportReport
from yolov9.errors import ConfigError
from yolov9.inference.caption_graph import caption_metadata
from yolov9.inference.graph import inference_graph
from yolov9.models import YOLOv9
from yolov9.tasks.base import Task
from yolov9.tasks.registry import get_task
from yolov9.utils.optional import require

__all__ = ["ExportGraph", "ExportOptions", "ExportReport", "check_options", "export"]

log = logging.getLogger(__name__)


# an INT8 export that loses more AP than this (absolute) gets a note saying what to try
INT8_DROP_WARN = 0.01


def metadata(loaded: LoadedWeights, model: YOLOv9, opts: ExportOptions) -> dict[str, Any]:
    from yolov9.version import __version__

    return {
        "model": model.name,
        "task": model.task,
        # mask coefficients per detection (segmentation heads), 0 for the others
        "num_masks": int(getattr(model.head, "num_masks", 0)),
        "names": loaded.names,
        "stuff_names": loaded.stuff_names,  # panoptic: the semantic channels after the things
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
            output_names=list(graph.output_names),
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
        # no second tracing to check the first: _verify compares the saved file with PyTorch
        traced = torch.jit.trace(graph, example, strict=False, check_trace=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # TorchScript is deprecated upstream; kept for old runtimes
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(traced, str(path), _extra_files={"yolov9.json": json.dumps(meta)})
    return path


def _export_decoder(model: YOLOv9, path: Path, opts: ExportOptions) -> Path:
    """The caption decoder graph beside the exported model at ``path``."""
    from yolov9.deploy.caption_decoder import export_decoder_onnx, export_decoder_openvino

    head = model.caption
    assert head is not None
    with torch.no_grad():
        memory = model(torch.rand(1, 3, opts.imgsz, opts.imgsz)).main.memory
    assert memory is not None
    target = decoder_path(path)
    if path.suffix == ".onnx":
        return export_decoder_onnx(head, target, memory.float(), opts.opset)
    tmp = target.with_name(target.stem + "_tmp.onnx")
    export_decoder_onnx(head, tmp, memory.float(), opts.opset)
    try:
        return export_decoder_openvino(tmp, target)
    finally:
        tmp.unlink()


def _max_diff(a: torch.Tensor | None, b: torch.Tensor | None, n: int | None = None) -> float:
    """max |a - b| (over the first ``n`` rows when given)."""
    if a is None or b is None:
        raise ConfigError("the export lacks the segmentation outputs of its model")
    if n is not None:
        a, b = a[:n], b[:n]
    return float((a - b).abs().max()) if a.numel() else 0.0


def _verify(path: Path, model: YOLOv9, opts: ExportOptions) -> dict[str, float]:
    """Run the export on a test image and compare with PyTorch (segmentation models: the
    mask coefficients and prototypes too)."""
    from yolov9.data.synthetic import make_scene
    from yolov9.inference.backends import OUTPUT_FIELDS, decoded_from, nms_with_masks
    from yolov9.inference.loader import load_backend

    image = make_scene(np.random.default_rng(0), (opts.imgsz, opts.imgsz))[0]
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    batch = x.repeat(2, 1, 1, 1) if opts.dynamic else x
    graph = ExportGraph(model)
    with torch.no_grad():
        named = dict(zip(graph.output_names, graph(batch), strict=True))
    want_raw = decoded_from(named)
    segment = want_raw.coeffs is not None
    backend = load_backend(path, device="cpu")
    if backend.task != model.task:
        raise ConfigError(f"{path}: exported as a {backend.task} model, not {model.task}")
    captions = _verify_captions(backend, model, batch, named) if model.caption else {}
    if not backend.has_nms:
        got_raw = backend.infer(batch)
        fields = {k: f for k, f in OUTPUT_FIELDS.items() if k in named}
        diff = {k: _max_diff(getattr(got_raw, f), getattr(want_raw, f)) for k, f in fields.items()}
        return diff | captions
    want = nms_with_masks(
        want_raw,
        conf_threshold=opts.conf,
        iou_threshold=opts.iou,
        max_det=opts.max_det,
        multi_label=opts.multi_label,
    )
    got = backend.detect(
        batch, conf=opts.conf, iou=opts.iou, max_det=opts.max_det, multi_label=opts.multi_label
    )
    diff = {"boxes": 0.0, "scores": 0.0, "count": 0.0}
    if segment:
        diff |= {"coefficients": 0.0, "prototypes": 0.0}
    if want_raw.semantic is not None:
        diff["semantic"] = 0.0
    for a, b in zip(want, got, strict=True):
        diff["count"] = max(diff["count"], abs(len(a) - len(b)))
        n = min(len(a), len(b))
        diff["boxes"] = max(diff["boxes"], _max_diff(a.boxes, b.boxes, n))
        diff["scores"] = max(diff["scores"], _max_diff(a.scores, b.scores, n))
        if segment:
            diff["coefficients"] = max(diff["coefficients"], _max_diff(a.coeffs, b.coeffs, n))
            diff["prototypes"] = max(diff["prototypes"], _max_diff(a.protos, b.protos))
        if "semantic" in diff:
            diff["semantic"] = max(diff["semantic"], _max_diff(a.semantic, b.semantic))
    return diff | captions


def _verify_captions(
    backend: Any, model: YOLOv9, batch: torch.Tensor, named: dict[str, torch.Tensor]
) -> dict[str, float]:
    """The first token's log-probabilities (the export's memory through its decoder against
    PyTorch's through the head; the memory's rows are a set, whose order ties among the
    anchors' scores may change, so it is compared through what reads it), and how many greedy
    captions of the export differ from the PyTorch head's, token for token."""
    from yolov9.models.caption import BOS
    from yolov9.models.caption_search import Decoding, decode

    head = model.caption
    assert head is not None
    memory = named["caption_memory"]
    got = torch.from_numpy(backend._named(batch)["caption_memory"]).float()
    first = torch.full((memory.shape[0], 1), BOS, dtype=torch.long)
    with torch.no_grad():
        mine_logp = head.next_logp(memory, first)
    theirs_logp = torch.from_numpy(
        np.asarray(backend.caption_decoder.run(got.numpy(), first.numpy()))
    )
    greedy = Decoding(beam=1)
    mine = decode(head, memory, greedy).tokens
    theirs = decode(backend.caption_decoder, got, greedy).tokens
    differing = sum(a != b for a, b in zip(mine, theirs, strict=True))
    return {
        "caption_logp": _max_diff(theirs_logp.float(), mine_logp),
        "captions_differing": float(differing),
    }


def int8_notes(metrics: dict[str, Any], opts: ExportOptions) -> list[str]:
    """What the INT8 export should tell its user: AP before and after (boxes, and masks for
    segmentation models), layers left in float, and what to try when the AP (mask AP for
    segmentation models) dropped too much."""
    notes = []
    label = opts.int8_preset if opts.format == "openvino" else f"{opts.format}, static"
    shown = [
        (key, name)
        for key, name in (("PQ", "PQ"), ("mIoU", "mIoU"), ("AP", "AP"), ("mask_AP", "mask AP"))
        if f"{key}_int8" in metrics
    ]
    if shown:
        changes = ", ".join(
            f"{name} {metrics[f'{key}_fp32']:.4f} -> {metrics[f'{key}_int8']:.4f}"
            for key, name in shown
        )
        notes.append(f"INT8 ({label}): {changes} on {metrics['val_images']} validation images")
    else:
        notes.append(f"INT8 ({label}): calibrated only, AP not checked")
    if metrics["float_convolutions"]:
        notes.append(
            f"INT8: {len(metrics['float_convolutions'])} convolutions kept in float: "
            + ", ".join(metrics["float_convolutions"])
        )
    if "bf16_ms" in metrics:
        int8_ms, bf16_ms = metrics["int8_ms"], metrics["bf16_ms"]
        if bf16_ms < int8_ms:
            notes.append(
                f"INT8 is not the fastest choice on this CPU: bf16 ran {bf16_ms:.1f} ms, INT8 "
                f"{int8_ms:.1f} ms (batch 1, medians of 20 runs; `yolov9 benchmark` measures "
                f"longer); run the fp32 model {metrics['fp32_model']} with "
                "--precision bf16 for speed at fp32's accuracy"
            )
        else:
            notes.append(f"INT8 {int8_ms:.1f} ms, bf16 {bf16_ms:.1f} ms on this CPU (batch 1)")
    limit = INT8_DROP_WARN if opts.int8_max_drop is None else opts.int8_max_drop
    key = next(k for k in ("PQ", "mIoU", "mask_AP", "AP") if f"{k}_int8" in metrics or k == "AP")
    if f"{key}_int8" in metrics and metrics[f"{key}_fp32"] - metrics[f"{key}_int8"] > limit:
        hint = (
            "try --int8-preset mixed (slower, usually closer to fp32) or "
            if opts.int8_preset == "performance" and opts.format == "openvino"
            else ""
        )
        floats = "fp32/bf16" if opts.format == "openvino" else "fp32/fp16"
        notes.append(
            f"INT8 lost more than {limit:g} {key.replace('_', ' ')}: {hint}more "
            f"--calibration-images, or deploy {floats}"
        )
    return notes


def check_options(opts: ExportOptions, task: Task | None = None) -> None:
    """Refuse an option the format cannot honour, before any work (``task``: the model's)."""
    fmt = opts.format
    if fmt not in FORMATS:
        raise ConfigError(f"format must be one of {FORMATS}, got {fmt!r}")
    if opts.imgsz < 32 or opts.imgsz % 32:
        raise ConfigError(f"imgsz must be a positive multiple of 32, got {opts.imgsz}")
    if opts.int8 and (fmt not in INT8_FORMATS or not opts.data):
        raise ConfigError(
            f"--int8 is for --format {' or '.join(INT8_FORMATS)} and needs --data for calibration"
        )
    if opts.int8 and opts.half:
        raise ConfigError("--int8 and --half are two precisions: choose one")
    if opts.int8_max_drop is not None and not (opts.int8 and opts.int8_check and fmt == "openvino"):
        raise ConfigError("--int8-max-drop applies to --int8 exports (OpenVINO) checked on --data")
    if opts.nms and fmt not in NMS_FORMATS:
        raise ConfigError(
            f"--nms is for --format {', '.join(NMS_FORMATS)}; a {fmt} export leaves NMS to "
            "yolov9 predict/val (or your application), as its runtime has no NMS operator"
        )
    if opts.dynamic and fmt not in DYNAMIC_FORMATS:
        raise ConfigError(
            f"--dynamic is for --format {', '.join(DYNAMIC_FORMATS)}; {fmt} models take the "
            "--imgsz they were exported at"
        )
    if opts.int8 and fmt != "openvino" and opts.int8_preset != "performance":
        raise ConfigError("--int8-preset is for OpenVINO; LiteRT INT8 has one scheme (static)")
    if fmt == "coreml" and opts.nms and opts.multi_label:
        raise ConfigError(
            "CoreML's NMS keeps one class per box: export without --multi-label (or without "
            "--nms, and run NMS with --multi-label after the runtime)"
        )
    if fmt == "coreml" and opts.nms and task is not None:
        task.refuse_vision_nms()
    if task is not None and task.gives("caption"):
        if fmt not in ("onnx", "openvino"):
            raise ConfigError(
                f"a {task.description} model exports to onnx or openvino (the model and its "
                f"caption decoder as two graphs); {fmt} is not supported for it yet"
            )
        if opts.int8:
            raise ConfigError(f"--int8 is not supported for {task.description} models yet")


# what each format needs beyond the base install, to convert and to verify: (extra, modules)
NEEDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "onnx": ("export", ("onnx", "onnxscript", "onnxslim", "onnxruntime")),
    "openvino": ("export", ("onnx", "onnxscript", "onnxslim", "openvino")),
    "torchscript": ("", ()),
    "ncnn": ("ncnn", ("pnnx", "ncnn")),
    "tflite": ("litert", ("litert_torch", "ai_edge_litert", "ai_edge_quantizer")),
    "coreml": ("coreml", ("coremltools",)),
}


def require_format(opts: ExportOptions) -> None:
    """Stop with one line, before any work, when the format's extra is not installed."""
    extra, modules = NEEDS[opts.format]
    if opts.int8 and opts.format == "openvino":
        modules = (*modules, "nncf")
    if modules:
        require(f"--format {opts.format}", extra, *modules)


def export(weights: str | Path, out: str | Path | None, opts: ExportOptions) -> ExportReport:
    check_options(opts)
    require_format(opts)
    loaded = load_weights(weights)
    check_options(opts, get_task(loaded.model.task))
    if opts.int8 and opts.int8_check:  # before any work: the data can score this model
        from yolov9.deploy.quantize import validation_split

        validation_split(str(opts.data), loaded)
    model = inference_graph(loaded.model, "cpu", channels_last=False)
    meta = metadata(loaded, model, opts)
    stem = Path(out) if out else loaded.path.with_suffix("")
    final = (  # where the model goes (its caption decoder beside it)
        stem.with_suffix(".onnx")
        if opts.format == "onnx"
        else stem.with_name(stem.name + "_openvino") / f"{stem.name}_openvino.xml"
    )
    if model.caption is not None:
        meta["caption"] = caption_metadata(
            model.caption.spec, model.caption.vocabulary(), decoder_path(final).name
        )
    notes: list[str] = []
    metrics = None
    if opts.format == "torchscript":
        path = export_torchscript(model, stem.with_suffix(".torchscript"), opts, meta)
    elif opts.format == "ncnn":
        from yolov9.deploy.ncnn import export_ncnn

        path = export_ncnn(model, stem.with_name(stem.name + "_ncnn"), opts, meta)
    elif opts.format == "tflite":
        from yolov9.deploy.litert import export_tflite

        path, metrics = export_tflite(model, stem, opts, meta, loaded)
    elif opts.format == "coreml":
        from yolov9.deploy.coreml import export_coreml

        path = export_coreml(model, stem.with_suffix(".mlpackage"), opts, meta)
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
        if model.caption is not None:
            _export_decoder(model, path, opts)
    if opts.int8 and opts.format == "openvino":
        from yolov9.deploy.quantize import quantize_openvino

        path, metrics = quantize_openvino(path, loaded, opts)
    if metrics is not None:
        notes += int8_notes(metrics, opts)
    diff: dict[str, float] = {}
    if opts.format == "coreml":
        if sys.platform == "darwin" and not opts.nms:
            diff = _verify(path, model, opts)
        else:
            notes.append(
                "CoreML runs on macOS only: the package was converted and its inputs, outputs "
                "and metadata written, but not run here"
                if sys.platform != "darwin"
                else "CoreML with NMS is for Apple's Vision framework: not run here"
            )
    elif opts.half and opts.format in ("onnx", "torchscript"):
        notes.append("fp16 export not run here (CPU runtimes); verify it on the target device")
    else:
        diff = _verify(path, model, opts)
    return ExportReport(path, opts.format, diff, notes, metrics)
