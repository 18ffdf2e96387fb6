"""LiteRT (TensorFlow Lite) export: fp32, fp16 weights, or INT8 calibrated on a dataset.

The inference graph is converted by ``litert-torch`` (PyTorch -> ``torch.export`` -> LiteRT,
no TensorFlow and no ONNX in between); fp16 and INT8 are applied to the converted model by
``ai-edge-quantizer``. The yolov9 metadata (class names, input size, task) is stored inside
the ``.tflite`` file as a named metadata buffer, so one file is the whole deployment.

INT8 is static (int8 weights and activations, min/max calibration on training images). The
decoding tail (DFL softmax and projection, box arithmetic, class sigmoid) stays in float for
the reason given in :mod:`yolov9.deploy.quantize`: 256 levels over the image cost box
precision and save no time. The model takes and returns int8 tensors where its first and last
operations are quantised; the backend (de)quantises them with the scales stored in the file.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolov9.deploy.capture import output_to
from yolov9.deploy.graph import ExportGraph, ExportOptions
from yolov9.errors import ConfigError
from yolov9.inference.edge import LITERT_METADATA as METADATA_NAME
from yolov9.models import YOLOv9

log = logging.getLogger(__name__)


# Operations left in float in INT8 models, matched against their scope names (the module path
# litert-torch records): each head branch's last convolution (box distribution and class
# logits: int8 outputs rounded the DFL's logits and cost 2.1 AP points on the small-data
# model), the head's flattening and concatenation of them, the DFL, the box arithmetic and
# sigmoid of the ExportGraph itself, and the ops writing the outputs.
INT8_FLOAT_SCOPES = (
    r"Sequential_\d+/torch\.nn\.modules\.conv\.Conv2d_2|Head_head;|DFL_dfl|ExportGraph;"
    r"|^serving_default_output"
)


def convert(graph: torch.nn.Module, imgsz: int) -> bytes:
    """The fp32 LiteRT flatbuffer of ``graph`` for a (1, 3, imgsz, imgsz) input."""
    import contextlib
    import io
    import warnings

    example = torch.rand(1, 3, imgsz, imgsz)
    with tempfile.TemporaryDirectory(prefix="yolov9-litert-") as tmp:
        log_path = Path(tmp) / "convert.log"
        try:
            with (
                warnings.catch_warnings(),
                output_to(log_path),
                contextlib.redirect_stdout(io.StringIO()),
                torch.no_grad(),
            ):
                warnings.simplefilter("ignore")
                import litert_torch  # its import prints too (torchao, absl)

                return bytes(litert_torch.convert(graph.eval(), (example,)).model_content())
        except Exception as e:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ConfigError(f"litert-torch could not convert the model: {e}\n{tail}") from e


def _fp16_recipe() -> list[dict[str, Any]]:
    """Weights stored as fp16 (half the file), computed in fp32 (LiteRT's CPU kernels)."""
    return [
        {
            "regex": ".*",
            "operation": "*",
            "algorithm_key": "float_casting",
            "op_config": {
                "weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"},
                "compute_precision": "FLOAT",
                "explicit_dequantize": True,
                "skip_checks": False,
                "min_weight_elements": 0,
            },
        }
    ]


def _int8_recipe() -> Any:
    from ai_edge_quantizer import algorithm_manager, qtyping, recipe_manager

    manager = recipe_manager.RecipeManager()
    manager.add_static_config(
        regex=".*",
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        activation_num_bits=8,
        weight_num_bits=8,
        algorithm_key=algorithm_manager.AlgorithmName.MIN_MAX_UNIFORM_QUANT,
    )
    manager.add_quantization_config(
        regex=INT8_FLOAT_SCOPES,
        operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
        algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE,
    )
    return manager.get_quantization_recipe()


def _quantize(
    model: bytes, recipe: Any, calibration: list[np.ndarray] | None = None, threads: int = 2
) -> bytes:
    import contextlib
    import io

    from ai_edge_quantizer import quantizer

    q = quantizer.Quantizer(bytearray(model), recipe)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        result = None
        if calibration is not None:
            name = _input_name(model)
            data = {"serving_default": [{name: x} for x in calibration]}
            result = q.calibrate(data, num_threads=threads)
        out = q.quantize(result, enable_progress_bar=False, enable_progress_report=False)
    return bytes(out.quantized_model)


def _input_name(model: bytes) -> str:
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=model)
    return str(runner.get_signature_list()["serving_default"]["inputs"][0])


def with_metadata(model: bytes, meta: dict[str, Any]) -> bytes:
    """``model`` with ``meta`` (JSON) stored as its ``yolov9`` metadata buffer."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    tree = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    tree.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(tree.buffers) - 1
    tree.metadata = [m for m in (tree.metadata or []) if m.name != METADATA_NAME.encode()]
    tree.metadata.append(entry)
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def float_convolutions(model: bytes) -> list[str]:
    """Convolutions of a LiteRT model that take a float input (they run in float)."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_content=model)
    tensors = {t["index"]: t for t in runner.get_tensor_details()}
    return [
        str(tensors[op["outputs"][0]]["name"])
        for op in runner._get_ops_details()
        if op["op_name"] in ("CONV_2D", "DEPTHWISE_CONV_2D")
        and tensors[op["inputs"][0]]["dtype"] == np.float32
    ]


def _write(path: Path, flat: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(flat)
    tmp.replace(path)
    return path


def export_tflite(
    model: YOLOv9, stem: Path, opts: ExportOptions, meta: dict[str, Any], loaded: Any = None
) -> tuple[Path, dict[str, Any] | None]:
    """Write ``<stem>.tflite`` (fp32), ``<stem>_fp16.tflite`` (``opts.half``: fp16 weights)
    or ``<stem>_int8.tflite`` calibrated on ``opts.data`` (``opts.int8``; the fp32 model is
    written next to it and, with ``opts.int8_check``, both are scored on the data's validation
    split). Returns the file and, for INT8, what the exporter reports (as for OpenVINO)."""
    fp32_path = stem.with_name(stem.name + ".tflite")
    flat = convert(ExportGraph(model), opts.imgsz)
    # metadata first: the quantizer keeps it, and the files it writes keep their weights after
    # the flatbuffer, which a rewrite with the flatbuffers object API would lose
    if opts.half:
        flat16 = _quantize(with_metadata(flat, {**meta, "precision": "fp16"}), _fp16_recipe())
        return _write(stem.with_name(stem.name + "_fp16.tflite"), flat16), None
    _write(fp32_path, with_metadata(flat, {**meta, "precision": "fp32"}))
    if not opts.int8:
        return fp32_path, None
    from yolov9.deploy.quantize import ap_change, calibration_images, validation_split
    from yolov9.inference.edge import LiteRtBackend

    val = validation_split(str(opts.data), loaded) if opts.int8_check else None
    images = calibration_images(str(opts.data), opts.imgsz, opts.calibration_images)
    log.info("INT8: calibrating on %d images of %s", len(images), opts.data)
    flat8 = _quantize(with_metadata(flat, {**meta, "precision": "int8"}), _int8_recipe(), images)
    path = _write(stem.with_name(stem.name + "_int8.tflite"), flat8)
    metrics: dict[str, Any] = {
        "calibration_images": len(images),
        "fp32_model": str(fp32_path),
        "float_convolutions": float_convolutions(flat8),
    }
    if val is not None:
        metrics |= ap_change(val, opts.imgsz, LiteRtBackend(fp32_path), LiteRtBackend(path))
    return path, metrics
