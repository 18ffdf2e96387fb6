"""Backends for edge exports: NCNN (``.param`` + ``.bin``), LiteRT (``.tflite``) and CoreML
(``.mlpackage``, macOS only).

They give the outputs of every other export by name (:class:`~yolov9.inference.exported.
_GraphBackend`), so prediction, evaluation and benchmarks treat them like ONNX Runtime. Their
graphs take one image at a time (batch 1, the size they were exported at); a batch is run image
by image. On the CPU their thread count follows the machine (:class:`~yolov9.utils.threads.
ThreadGovernor`) as for the other runtimes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolov9.errors import CheckpointError, ConfigError
from yolov9.inference.exported import _GraphBackend, _load_meta
from yolov9.tasks.registry import get_task
from yolov9.utils.optional import require

EDGE_SUFFIXES = (".param", ".bin", ".tflite", ".mlpackage")
# the name of the metadata buffer holding the yolov9 metadata (JSON) in a .tflite file
LITERT_METADATA = "yolov9"


def _per_image(images: torch.Tensor, run: Any, names: list[str]) -> dict[str, np.ndarray]:
    """Run a batch-1 graph on each image; stack each named output along a new batch axis."""
    array = np.ascontiguousarray(images.detach().cpu().numpy().astype(np.float32))
    outs = [run(array[i : i + 1]) for i in range(len(array))]
    return {n: np.concatenate([o[n] for o in outs]) for n in names}


def ncnn_files(path: Path) -> tuple[Path, Path, Path]:
    """The ``.param``, ``.bin`` and ``.json`` of an NCNN export given any of them or its
    folder."""
    if path.is_dir():
        params = sorted(path.glob("*.param"))
        if len(params) != 1:
            raise CheckpointError(f"{path}: expected one NCNN .param file, found {len(params)}")
        path = params[0]
    param, weights, meta = (path.with_suffix(s) for s in (".param", ".bin", ".json"))
    for f in (param, weights):
        if not f.is_file():
            raise CheckpointError(
                f"{f}: not found; an NCNN model is a .param and a .bin with the same name"
            )
    if not meta.is_file():
        raise CheckpointError(f"{meta}: not found (the class names); export it with yolov9 export")
    return param, weights, meta


def read_metadata(model: bytes) -> dict[str, Any]:
    """The ``yolov9`` metadata of a LiteRT flatbuffer ({} when there is none)."""
    from ai_edge_litert import schema_py_generated as schema

    root = schema.Model.GetRootAs(model, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if entry.Name() == LITERT_METADATA.encode():
            buffer = root.Buffers(entry.Buffer())
            if buffer.DataLength():
                data = bytes(buffer.DataAsNumpy())
            else:  # large models keep their buffers after the flatbuffer, at an offset
                data = bytes(model[buffer.Offset() : buffer.Offset() + buffer.Size()])
            return dict(json.loads(data.decode()))
    return {}


class NcnnBackend(_GraphBackend):
    kind = "ncnn"

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        require(f"{path}: running it", "ncnn", "ncnn")
        import ncnn

        param, weights, meta_path = ncnn_files(path)
        meta = json.loads(meta_path.read_text())
        _load_meta(self, meta, param)
        self.path = param
        self.output_names = [str(n) for n in meta.get("outputs", get_task(self.task).outputs)]
        self._check_outputs(set(self.output_names), param)
        self.fixed_batch, self.fixed_shape = 1, (self.imgsz, self.imgsz)
        net = ncnn.Net()
        # fp32 arithmetic: fp16 storage would change the outputs on CPUs that have it
        net.opt.use_fp16_storage = net.opt.use_fp16_packed = False
        net.opt.use_fp16_arithmetic = False
        if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
            raise CheckpointError(f"{param}: NCNN could not read the model")
        self.net, self._ncnn = net, ncnn
        blobs = list(net.output_names())
        if len(blobs) != len(self.output_names):
            raise CheckpointError(
                f"{param}: {len(blobs)} outputs, the metadata names {len(self.output_names)}"
            )
        # pnnx names the graph's outputs out0, out1, ... in the order the graph returns them
        self._blobs = sorted(blobs, key=_output_index)
        self._input = net.input_names()[0]
        # a thread count is all an extractor needs (see _make)
        self._adapt_threads(threads, threads or torch.get_num_threads())

    def _make(self, threads: int) -> int:
        return threads

    def _run(self, x: np.ndarray, threads: int) -> dict[str, np.ndarray]:
        self.net.opt.num_threads = threads  # an extractor takes the options of its making
        ex = self.net.create_extractor()
        ex.input(self._input, self._ncnn.Mat(x[0]))
        out = {}
        for blob, name in zip(self._blobs, self.output_names, strict=True):
            status, mat = ex.extract(blob)
            if status != 0:
                raise RuntimeError(f"{self.path}: NCNN failed to compute {blob} ({status})")
            out[name] = np.array(mat)[None]
        return out

    def _named(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        threads = self._runner()
        return _per_image(images, lambda x: self._run(x, threads), self.output_names)


class LiteRtBackend(_GraphBackend):
    kind = "litert"

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        require(f"{path}: running it", "litert", "ai_edge_litert")
        if not path.is_file():
            raise CheckpointError(f"exported model not found: {path}")
        self.path, self.content = path, path.read_bytes()
        try:
            meta = read_metadata(self.content)
        except Exception as e:
            raise CheckpointError(f"{path}: not a LiteRT model ({e})") from e
        _load_meta(self, meta, path)
        self.precision = str(meta.get("precision", "fp32"))
        self.kind = "litert" if self.precision == "fp32" else f"litert-{self.precision}"
        # one thread per core unless fixed (LiteRT's own default would be one thread)
        interpreter = self._make(threads or torch.get_num_threads())
        signature = interpreter.get_signature_list()["serving_default"]
        # litert-torch numbers the outputs in the order of the graph's (the task's outputs)
        order = list(get_task(self.task).outputs)
        self.output_names = [str(n) for n in meta.get("outputs", order)]
        if len(signature["outputs"]) != len(self.output_names):
            raise CheckpointError(
                f"{path}: {len(signature['outputs'])} outputs, a {self.task} export has "
                f"{len(self.output_names)}; export it again with yolov9 export"
            )
        self._check_outputs(set(self.output_names), path)
        self._signature_outputs = sorted(signature["outputs"], key=_output_index)
        self._input = signature["inputs"][0]
        shape = interpreter.get_input_details()[0]["shape"]
        self.fixed_batch, self.fixed_shape = 1, (int(shape[2]), int(shape[3]))
        self._adapt_threads(threads, interpreter)

    def _make(self, threads: int | None) -> Any:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=self.content, num_threads=threads or None)
        interpreter.allocate_tensors()
        return interpreter

    def _run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        runner = self._runner().get_signature_runner("serving_default")
        inp = runner.get_input_details()[self._input]
        out = runner(**{self._input: _quantize(x, inp)})
        details = runner.get_output_details()
        return {
            name: _dequantize(out[key], details[key])
            for key, name in zip(self._signature_outputs, self.output_names, strict=True)
        }

    def _named(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        return _per_image(images, self._run, self.output_names)


def _output_index(name: str) -> int:
    """``output_3`` or ``out3`` -> 3 (outputs sort by number, not as strings)."""
    digits = name[len(name.rstrip("0123456789")) :]
    return int(digits) if digits else 0


def _quantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero = detail.get("quantization", (0.0, 0))
    if detail["dtype"] == np.float32 or not scale:
        return x.astype(detail["dtype"])
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(detail["dtype"])


def _dequantize(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    scale, zero = detail.get("quantization", (0.0, 0))
    if x.dtype == np.float32 or not scale:
        return x.astype(np.float32)
    return (x.astype(np.float32) - zero) * scale


class CoreMlBackend(_GraphBackend):
    """An ``.mlpackage`` run by CoreML (macOS only; elsewhere this says so)."""

    kind = "coreml"

    def __init__(self, path: Path) -> None:
        require(f"{path}: running it", "coreml", "coremltools")
        import coremltools as ct

        if sys.platform != "darwin":
            raise ConfigError(
                f"{path}: CoreML models run on macOS only (convert here, run them on a Mac)"
            )
        self.path = path
        self.mlmodel = ct.models.MLModel(str(path))
        meta = json.loads(self.mlmodel.user_defined_metadata.get("yolov9", "{}"))
        _load_meta(self, meta, path)
        names = {o.name for o in self.mlmodel.get_spec().description.output}
        if "coordinates" in names:
            raise ConfigError(
                f"{path}: this CoreML export has NMS inside (for Apple's Vision framework); "
                "export without --nms to run it with yolov9"
            )
        self.output_names = sorted(names)
        self._check_outputs(names, path)
        self.fixed_batch, self.fixed_shape = 1, (self.imgsz, self.imgsz)
        self._adapt_threads(1, None, cpu=False)

    def _named(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        return _per_image(
            images, lambda x: dict(self.mlmodel.predict({"images": x})), self.output_names
        )
