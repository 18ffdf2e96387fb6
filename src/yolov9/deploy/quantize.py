"""INT8 post-training quantisation of an OpenVINO export with NNCF, checked by COCO AP.

Segmentation models are quantised the same way (the mask coefficients and prototypes come
out of convolutions like the boxes' logits); they are checked by box and mask AP, and
accuracy control keeps their mask AP within the limit. Panoptic models are calibrated on their
panoptic (or semantic) data, checked by PQ, mIoU, box and mask AP, and accuracy control keeps
their PQ (mIoU on label maps) within the limit.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from yolov9.checkpoints import LoadedWeights
from yolov9.data.dataset import DetectionDataset, load_dataset
from yolov9.data.images import letterbox
from yolov9.data.loader import load_resized
from yolov9.data.panoptic import PanopticSet
from yolov9.data.panoptic_formats import SemanticSet, panoptic_split
from yolov9.data.panoptic_training import PanopticTraining, panoptic_training_split
from yolov9.deploy.graph import ExportOptions
from yolov9.engine.evaluator import EvalResult, Evaluator, require_masks
from yolov9.engine.panoptic_val import evaluate_model
from yolov9.errors import ConfigError, DataError
from yolov9.inference.backends import InferenceBackend
from yolov9.inference.exported import OpenVinoBackend
from yolov9.tasks.registry import get_task

log = logging.getLogger(__name__)

# The decoding tail (DFL softmax and projection, box arithmetic, class sigmoid) stays in
# floating point: quantising it costs box precision and saves no time. Its first operations
# are found by type, the rest by walking the graph downstream of them (see decode_tail).
_KEEP_FLOAT = ["Softmax", "MatMul", "Sigmoid", "Subtract", "Divide"]
_TAIL_START = {"Softmax", "Sigmoid"}
# Also kept in float, for speed: average pools (ADown's) and convolutions whose input channels
# are not a multiple of 16 (the first one, on 3 channels, and the 24-channel bottlenecks of the
# t models). The CPU plugin's INT8 kernels (AMX on this machine) ran each of them 1.3-3x slower
# than fp32; in float, gelan-t at 640 went from 1.53x to 1.70x fp32's speed (docs/benchmarks.md,
# "OpenVINO INT8 on gelan-t").
_FAST_IN_FLOAT = ["AvgPool"]
_INT8_CHANNEL_MULTIPLE = 16


def slow_int8_convolutions(model: Any) -> list[str]:
    """Names of the convolutions whose input channels are not a multiple of 16."""
    return [
        op.get_friendly_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Convolution"
        and op.input(1).get_partial_shape()[1].get_length() % _INT8_CHANNEL_MULTIPLE
    ]


def decode_tail(model: Any) -> list[str]:
    """Names of the OpenVINO operations downstream of the DFL softmax and the class sigmoid.

    Quantising them rounds box coordinates to 256 levels over the image (about 1 px at 256
    and 2.5 px at 640): on the small-data model the symmetric preset lost 1.7 AP points, 1.0
    of them on the quantiser in front of the final stride multiplication alone.
    """
    names: list[str] = []
    frontier = [op for op in model.get_ordered_ops() if op.get_type_name() in _TAIL_START]
    seen = {op.get_friendly_name() for op in frontier}
    while frontier:
        op = frontier.pop()
        names.append(op.get_friendly_name())
        for output in op.outputs():
            for target in output.get_target_inputs():
                node = target.get_node()
                name = node.get_friendly_name()
                if name not in seen and node.get_type_name() not in ("Result", "Constant"):
                    seen.add(name)
                    frontier.append(node)
    return sorted(names)


def _network_input(path: Path, imgsz: int) -> np.ndarray:
    """One image as the exported network takes it: letterboxed to a square ``imgsz``,
    (1, 3, s, s) float32 in [0, 1]."""
    image, _ = load_resized(path, imgsz)
    boxed, _ = letterbox(image, imgsz, auto=False, scaleup=False)
    return boxed.transpose(2, 0, 1)[None].astype(np.float32) / 255.0


def calibration_images(data: str, imgsz: int, count: int) -> list[np.ndarray]:
    """Up to ``count`` training images (val if there is no train split), letterboxed to a
    square ``imgsz``, as (1, 3, s, s) float32 arrays in [0, 1]."""
    try:
        paths = _image_paths(data, "train")
    except DataError:
        paths = _image_paths(data, "val")
    step = max(len(paths) // count, 1)
    out = []
    for path in paths[::step][:count]:
        try:
            out.append(_network_input(path, imgsz))
        except DataError:
            continue
    if not out:
        raise DataError(f"{data}: no readable image for INT8 calibration")
    return out


def _image_paths(data: str, split: str) -> list[str]:
    """The images of a split, panoptic and semantic data included (their labels unread)."""
    truth = panoptic_split(data, split)
    if isinstance(truth, SemanticSet):
        return [str(p) for p in truth.images]
    if truth is not None:
        return [str(image.image) for image in truth.images if image.image is not None]
    return [r.path for r in load_dataset(data, split).records]


def validation_split(data: str, loaded: LoadedWeights) -> DetectionDataset | PanopticTraining:
    """The split that scores fp32 against INT8; it must have the model's classes (and, for
    a segmentation model, masks; for a panoptic model, panoptic or semantic labels: checked
    now, not after the calibration)."""
    if get_task(loaded.model.task).gives("semantic"):
        panoptic = panoptic_training_split(data, "val")
        if panoptic is None:
            raise DataError(
                f"{data} has no panoptic or semantic labels: a panoptic model's INT8 check "
                "scores PQ and mIoU (give panoptic data, or --no-int8-check)"
            )
        theirs = (panoptic.dataset.names, panoptic.stuff_names)
        if theirs != (list(loaded.names), list(loaded.stuff_names)):
            raise DataError(
                f"the model's classes {loaded.names[:5]} (stuff {loaded.stuff_names[:5]}) are "
                f"not those of {data} ({theirs[0][:5]}, stuff {theirs[1][:5]}): INT8 PQ "
                "cannot be checked on it"
            )
        return panoptic
    val = load_dataset(data, "val")
    if len(val.names) != len(loaded.names):
        raise DataError(
            f"the model has {len(loaded.names)} classes, {data} has {len(val.names)}: INT8 AP "
            "cannot be checked on it (calibrate on data with the model's classes)"
        )
    if get_task(loaded.model.task).scores("segm"):
        require_masks(val)
    return val


def task_ap(result: EvalResult) -> float:
    """The AP an INT8 model must keep: mask AP for segmentation models, box AP otherwise."""
    return (result.mask_metrics or result.metrics).AP


def pq_change(
    val: PanopticTraining, imgsz: int, fp32: InferenceBackend, int8: InferenceBackend
) -> dict[str, Any]:
    """PQ, mIoU, box and mask AP of a float panoptic model and its INT8 version (mIoU alone
    on label maps), as ``PQ_fp32``, ``PQ_int8``, ... ``mask_AP_int8``."""
    metrics: dict[str, Any] = {"val_images": len(val.dataset)}
    for precision, backend in (("fp32", fp32), ("int8", int8)):
        report = evaluate_model(val.truth, backend, imgsz=imgsz, progress=False)
        figures = report.figures()
        for key in ("PQ", "mIoU", "AP", "AP50", "mask/AP", "mask/AP50"):
            if key in figures:
                metrics[f"{key.replace('/', '_')}_{precision}"] = figures[key]
    return metrics


def ap_change(
    val: DetectionDataset | PanopticTraining,
    imgsz: int,
    fp32: InferenceBackend,
    int8: InferenceBackend,
) -> dict[str, Any]:
    """AP and AP50 of a float model and its INT8 version on ``val`` (box, and mask for
    segmentation models), as ``AP_fp32``, ``AP_int8``, ... ``mask_AP_int8``; PQ and mIoU too
    for panoptic models (:func:`pq_change`)."""
    if isinstance(val, PanopticTraining):
        return pq_change(val, imgsz, fp32, int8)
    evaluator = Evaluator(val, imgsz=imgsz, batch_size=1, progress=False)
    results = {"fp32": evaluator.run(fp32), "int8": evaluator.run(int8)}
    metrics: dict[str, Any] = {"val_images": len(val)}
    for precision, result in results.items():
        metrics[f"AP_{precision}"] = result.metrics.AP
        metrics[f"AP50_{precision}"] = result.metrics.AP50
    if all(r.mask_metrics is not None for r in results.values()):
        for precision, result in results.items():
            assert result.mask_metrics is not None
            metrics[f"mask_AP_{precision}"] = result.mask_metrics.AP
            metrics[f"mask_AP50_{precision}"] = result.mask_metrics.AP50
    return metrics


def quantize_openvino(
    xml: Path, loaded: LoadedWeights, opts: ExportOptions
) -> tuple[Path, dict[str, Any]]:
    """Quantise the fp32 OpenVINO model ``xml`` to INT8 (NNCF, ``opts.int8_preset``, with
    accuracy control when ``opts.int8_max_drop`` is set) calibrated on ``opts.data``; return
    the INT8 model, the AP of both on the data's validation split and the convolutions left
    in float."""
    import nncf
    import openvino as ov

    presets = {
        "mixed": nncf.QuantizationPreset.MIXED,
        "performance": nncf.QuantizationPreset.PERFORMANCE,
    }
    if opts.int8_preset not in presets:
        raise ConfigError(f"int8 preset {opts.int8_preset!r}: use one of {sorted(presets)}")
    val = validation_split(opts.data, loaded) if opts.int8_check else None
    core = ov.Core()
    model = core.read_model(str(xml))
    images = calibration_images(opts.data, opts.imgsz, opts.calibration_images)
    log.info("INT8: calibrating on %d images of %s", len(images), opts.data)
    settings: dict[str, Any] = {
        "preset": presets[opts.int8_preset],
        "subset_size": len(images),
        # not every graph has every type (the converter folds some divisions into products)
        "ignored_scope": nncf.IgnoredScope(
            names=decode_tail(model) + slow_int8_convolutions(model),
            types=_KEEP_FLOAT + _FAST_IN_FLOAT,
            validate=False,
        ),
    }
    if opts.int8_max_drop is None or val is None:
        quantized = nncf.quantize(model, nncf.Dataset(images), **settings)
    else:
        quantized = _with_accuracy_control(model, images, val, xml, opts, settings)
    # a new folder: the fp32 model's weights are memory-mapped and must not be overwritten
    fp32_xml = xml
    name = xml.parent.name.removesuffix("_openvino") + "_int8_openvino"
    folder = xml.parent.with_name(name)
    folder.mkdir(exist_ok=True)
    int8 = folder / f"{name}.xml"
    ov.save_model(quantized, str(int8), compress_to_fp16=False)

    metrics: dict[str, Any] = {
        "calibration_images": len(images),
        "fp32_model": str(fp32_xml),
        "float_convolutions": _float_convolutions(quantized),
    }
    if val is not None:
        metrics |= ap_change(val, opts.imgsz, OpenVinoBackend(fp32_xml), OpenVinoBackend(int8))
        metrics |= int8_or_bf16(fp32_xml, int8, images[0])
    return int8, metrics


def int8_or_bf16(fp32_xml: Path, int8_xml: Path, image: np.ndarray, runs: int = 20) -> dict:
    """Batch-1 latency (ms, medians of interleaved runs) of the INT8 model and of the fp32
    model run in bf16, on this CPU when it has bf16 ({} otherwise): on small models bf16 can be
    the faster of the two (gelan-t at 640 here), and it keeps fp32's accuracy."""
    import statistics
    import time

    import openvino as ov

    core = ov.Core()
    if "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return {}
    config = {"PERFORMANCE_HINT": "LATENCY"}
    requests = {
        "int8_ms": core.compile_model(
            str(int8_xml), "CPU", config | {"INFERENCE_PRECISION_HINT": "f32"}
        ).create_infer_request(),
        "bf16_ms": core.compile_model(
            str(fp32_xml), "CPU", config | {"INFERENCE_PRECISION_HINT": "bf16"}
        ).create_infer_request(),
    }
    times: dict[str, list[float]] = {k: [] for k in requests}
    for i in range(runs + 3):
        for key, request in requests.items():
            time.sleep(0.05)  # the other model's threads go idle first (deploy/benchmark.py)
            start = time.perf_counter()
            request.infer({0: image})
            if i >= 3:  # warm-up
                times[key].append(1e3 * (time.perf_counter() - start))
    return {k: statistics.median(v) for k, v in times.items()}


# operations that pass 8-bit values through unchanged: a quantiser in front of them also
# quantises what they feed
_PASS_THROUGH = {
    "Split",
    "VariadicSplit",
    "Concat",
    "MaxPool",
    "AvgPool",
    "Interpolate",
    "Reshape",
    "Transpose",
}


def _float_convolutions(model: Any) -> list[str]:
    """Convolutions of a quantised model whose input is not quantised (they run in float)."""

    def quantized(node: Any) -> bool:
        kind = node.get_type_name()
        if kind == "FakeQuantize":
            return True
        if kind not in _PASS_THROUGH:
            return False
        sources = [i.get_source_output().get_node() for i in node.inputs()]
        data = [n for n in sources if n.get_type_name() != "Constant"]
        return bool(data) and all(quantized(n) for n in data)

    return [
        op.get_friendly_name()
        for op in model.get_ordered_ops()
        if op.get_type_name() in ("Convolution", "GroupConvolution")
        and not quantized(op.input(0).get_source_output().get_node())
    ]


def _panoptic_score(
    val: PanopticTraining, indices: Any, backend: InferenceBackend, imgsz: int
) -> float:
    """PQ (mIoU on label maps) of ``backend`` on the images ``indices`` of ``val``."""
    chosen = list(indices)
    truth = val.truth
    subset: PanopticSet | SemanticSet
    if isinstance(truth, SemanticSet):
        images = [truth.images[i] for i in chosen]
        subset = dataclasses.replace(truth, images=images, labels=[truth.labels[i] for i in chosen])
    else:
        subset = dataclasses.replace(truth, images=[truth.images[i] for i in chosen])
    figures = evaluate_model(subset, backend, imgsz=imgsz, progress=False).figures()
    return figures.get("mIoU" if val.semantic_only else "PQ", 0.0)


def _with_accuracy_control(
    model: Any,
    images: list[np.ndarray],
    val: DetectionDataset | PanopticTraining,
    xml: Path,
    opts: ExportOptions,
    settings: dict[str, Any],
) -> Any:
    """NNCF's accuracy-controlled quantisation: quantise, then return the most sensitive
    operations to float, one group at a time, until the AP on ``val`` is within
    ``opts.int8_max_drop`` of the fp32 model's (or nothing is left to try); mask AP for
    segmentation models, PQ for panoptic models (mIoU on label maps)."""
    import nncf

    backend = OpenVinoBackend(xml)
    records = val.dataset.records if isinstance(val, PanopticTraining) else val.records

    def ap_on(compiled: Any, indices: Any) -> tuple[float, None]:
        candidate = backend.with_compiled(compiled)
        if isinstance(val, PanopticTraining):
            ap = _panoptic_score(val, indices, candidate, opts.imgsz)
        else:
            subset = dataclasses.replace(val, records=[val.records[i] for i in indices])
            evaluator = Evaluator(subset, imgsz=opts.imgsz, batch_size=1, progress=False)
            ap = task_ap(evaluator.run(candidate))
        return (0.0 if math.isnan(ap) or ap < 0 else ap), None

    metric = "AP"
    if isinstance(val, PanopticTraining):
        metric = "mIoU" if val.semantic_only else "PQ"
    log.info(
        "INT8: accuracy control on %d validation images, max %s drop %g",
        len(records),
        metric,
        opts.int8_max_drop,
    )
    return nncf.quantize_with_accuracy_control(
        model,
        nncf.Dataset(images),
        nncf.Dataset(
            list(range(len(records))), lambda i: _network_input(records[i].path, opts.imgsz)
        ),
        ap_on,
        max_drop=opts.int8_max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        **settings,
    )
