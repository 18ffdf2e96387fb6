"""Opening any model for inference: a checkpoint (path or release name) or an exported file."""

from __future__ import annotations

from pathlib import Path

import torch

from yolov9.checkpoints import load_weights
from yolov9.errors import CheckpointError, ConfigError
from yolov9.inference.backends import InferenceBackend, TorchBackend
from yolov9.inference.edge import EDGE_SUFFIXES, CoreMlBackend, LiteRtBackend, NcnnBackend
from yolov9.inference.exported import (
    EXPORT_SUFFIXES,
    OnnxBackend,
    OpenVinoBackend,
    TorchScriptBackend,
)
from yolov9.utils.threads import set_torch_threads


def load_backend(
    weights: str | Path,
    *,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    imgsz: int | None = None,
    threads: int | None = None,
) -> InferenceBackend:
    """A backend for a checkpoint (path or release name) or an exported file (``.onnx``,
    OpenVINO ``.xml`` or its folder, ``.torchscript``, NCNN ``.param``/``.bin`` or their
    folder, LiteRT ``.tflite``, CoreML ``.mlpackage`` on macOS). ``threads``: CPU threads of the
    runtime (for PyTorch models, torch's process-wide setting); None: one per core."""
    set_torch_threads(threads)
    path = Path(weights)
    if path.suffix == ".bin" and path.with_suffix(".xml").is_file():
        path = path.with_suffix(".xml")  # an OpenVINO model's weights: open the model
    if path.suffix in EDGE_SUFFIXES or (path.is_dir() and list(path.glob("*.param"))):
        if precision != "fp32":
            raise ConfigError("--precision applies to PyTorch checkpoints and OpenVINO models")
        return _edge_backend(path, threads)
    if path.suffix in EXPORT_SUFFIXES or (path.is_dir() and list(path.glob("*.xml"))):
        if path.is_dir():
            path = next(path.glob("*.xml"))
        if not path.is_file():
            raise CheckpointError(f"exported model not found: {path}")
        if path.suffix == ".xml":
            return OpenVinoBackend(path, threads=threads, precision=precision)
        if precision != "fp32":
            raise ConfigError("--precision applies to PyTorch checkpoints and OpenVINO models")
        if path.suffix == ".onnx":
            return OnnxBackend(path, device=device, threads=threads)
        return TorchScriptBackend(path)
    loaded = load_weights(weights)
    backend = TorchBackend(
        loaded.model,
        loaded.names,
        imgsz=imgsz or loaded.imgsz,
        device=device,
        precision=precision,
        stuff_names=loaded.stuff_names,
    )
    backend.source_path = loaded.path
    return backend


def _edge_backend(path: Path, threads: int | None) -> InferenceBackend:
    if path.suffix == ".mlpackage":
        if not path.exists():
            raise CheckpointError(f"exported model not found: {path}")
        return CoreMlBackend(path)
    if path.suffix == ".tflite":
        return LiteRtBackend(path, threads=threads)
    return NcnnBackend(path, threads=threads)
