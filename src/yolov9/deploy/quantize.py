"""INT8 post-training quantisation of an OpenVINO export with NNCF, checked by COCO AP."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from yolov9.checkpoints import LoadedWeights
from yolov9.data.dataset import load_dataset
from yolov9.data.images import letterbox
from yolov9.data.loader import load_resized
from yolov9.errors import DataError

log = logging.getLogger(__name__)

# The decoding tail (DFL softmax and projection, box arithmetic, class sigmoid) stays in
# floating point: quantising it costs box precision and saves no time. Its first operations
# are found by type, the rest by walking the graph downstream of them (see decode_tail).
_KEEP_FLOAT = ["Softmax", "MatMul", "Sigmoid", "Subtract", "Divide"]
_TAIL_START = {"Softmax", "Sigmoid"}


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


def calibration_images(data: str, imgsz: int, count: int) -> list[np.ndarray]:
    """Up to ``count`` training images (val if there is no train split), letterboxed to a
    square ``imgsz``, as (1, 3, s, s) float32 arrays in [0, 1]."""
    try:
        ds = load_dataset(data, "train")
    except DataError:
        ds = load_dataset(data, "val")
    step = max(len(ds) // count, 1)
    out = []
    for record in ds.records[::step][:count]:
        try:
            image, _ = load_resized(record.path, imgsz)
        except DataError:
            continue
        boxed, _ = letterbox(image, imgsz, auto=False, scaleup=False)
        out.append(boxed.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
    if not out:
        raise DataError(f"{data}: no readable image for INT8 calibration")
    return out


def quantize_openvino(xml: Path, loaded: LoadedWeights, opts: Any) -> tuple[Path, dict[str, Any]]:
    """Quantise the fp32 OpenVINO model ``xml`` to INT8 (NNCF, preset) calibrated on
    ``opts.data``; return the INT8 model and the AP of both on the data's validation split."""
    import nncf
    import openvino as ov

    from yolov9.deploy.backends import OpenVinoBackend
    from yolov9.engine.evaluator import Evaluator

    presets = {
        "mixed": nncf.QuantizationPreset.MIXED,
        "performance": nncf.QuantizationPreset.PERFORMANCE,
    }
    if opts.int8_preset not in presets:
        raise ValueError(f"int8 preset {opts.int8_preset!r}: use one of {sorted(presets)}")
    core = ov.Core()
    model = core.read_model(str(xml))
    images = calibration_images(opts.data, opts.imgsz, opts.calibration_images)
    log.info("INT8: calibrating on %d images of %s", len(images), opts.data)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(images),
        preset=presets[opts.int8_preset],
        subset_size=len(images),
        # not every graph has every type (the converter folds some divisions into products)
        ignored_scope=nncf.IgnoredScope(
            names=decode_tail(model), types=_KEEP_FLOAT, validate=False
        ),
    )
    # a new folder: the fp32 model's weights are memory-mapped and must not be overwritten
    fp32_xml = xml
    name = xml.parent.name.removesuffix("_openvino") + "_int8_openvino"
    folder = xml.parent.with_name(name)
    folder.mkdir(exist_ok=True)
    int8 = folder / f"{name}.xml"
    ov.save_model(quantized, str(int8), compress_to_fp16=False)

    val = load_dataset(opts.data, "val")
    evaluator = Evaluator(val, imgsz=opts.imgsz, batch_size=1, progress=False)
    ap_fp32 = evaluator.run(OpenVinoBackend(fp32_xml)).metrics
    ap_int8 = evaluator.run(OpenVinoBackend(int8)).metrics
    metrics = {
        "AP_fp32": ap_fp32.AP,
        "AP_int8": ap_int8.AP,
        "AP50_fp32": ap_fp32.AP50,
        "AP50_int8": ap_int8.AP50,
        "val_images": len(val),
        "calibration_images": len(images),
        "fp32_model": str(fp32_xml),
    }
    return int8, metrics
