"""Inference backends: one interface for a PyTorch model and for exported files.

``infer(images)`` maps a float batch (B, 3, H, W) in [0, 1] to decoded ``boxes`` (B, A, 4)
xyxy and class ``scores`` (B, A, C); ``detect`` adds NMS (ours, or the one inside an exported
graph). ``yolov9 predict`` and ``yolov9 val`` only talk to this interface, so a checkpoint and
its exports go through the same pre- and post-processing.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolov9.errors import CheckpointError, ConfigError
from yolov9.models import YOLOv9
from yolov9.ops.nms import Detections, non_max_suppression

log = logging.getLogger(__name__)

EXPORT_SUFFIXES = (".onnx", ".xml", ".torchscript")


class InferenceBackend:
    """Base: subclasses implement :meth:`infer` (and ``_raw_detect`` when NMS is built in)."""

    names: list[str]
    imgsz: int = 640
    fixed_shape: tuple[int, int] | None = None  # (h, w) the graph accepts, if not dynamic
    fixed_batch: int | None = None
    has_nms: bool = False
    nms_settings: dict[str, Any]  # thresholds baked into an export with NMS
    device = torch.device("cpu")
    kind = "?"

    def infer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def detect(
        self,
        images: torch.Tensor,
        *,
        conf: float = 0.25,
        iou: float = 0.45,
        max_det: int = 300,
        multi_label: bool = False,
        agnostic: bool = False,
        classes: list[int] | None = None,
    ) -> list[Detections]:
        if self.has_nms:
            return self._nms_outputs(images, conf, classes)
        boxes, scores = self.infer(images)
        return non_max_suppression(
            boxes,
            scores,
            conf_threshold=conf,
            iou_threshold=iou,
            max_det=max_det,
            multi_label=multi_label,
            agnostic=agnostic,
            classes=classes,
        )

    def _raw_detect(self, images: torch.Tensor) -> list[np.ndarray]:
        raise NotImplementedError

    def _nms_outputs(
        self, images: torch.Tensor, conf: float, classes: list[int] | None
    ) -> list[Detections]:
        baked = self.nms_settings.get("conf", 0.0)
        if conf < baked:
            log.warning(
                "this export has NMS with conf %.3g built in; lower thresholds (%.3g) cannot apply",
                baked,
                conf,
            )
        num, boxes, scores, labels = self._raw_detect(images)
        out = []
        for n, b, s, c in zip(num[:, 0], boxes, scores, labels, strict=True):
            keep = (s[:n] > conf) & (np.isin(c[:n], classes) if classes is not None else True)
            out.append(
                Detections(
                    torch.from_numpy(b[:n][keep]).float(),
                    torch.from_numpy(s[:n][keep]).float(),
                    torch.from_numpy(c[:n][keep]).long(),
                )
            )
        return out

    def describe(self) -> str:
        shape = (
            "dynamic"
            if self.fixed_shape is None
            else f"{self.fixed_shape[0]}x{self.fixed_shape[1]}"
        )
        return f"{self.kind} ({shape} input{', NMS inside' if self.has_nms else ''})"


class TorchBackend(InferenceBackend):
    """A YOLOv9 prepared for inference (auxiliary branch dropped, fused, channels-last)."""

    kind = "pytorch"

    def __init__(
        self,
        model: YOLOv9,
        names: list[str],
        *,
        imgsz: int = 640,
        device: str | torch.device | None = None,
        precision: str = "fp32",
    ) -> None:
        from yolov9.engine.predictor import prepare_for_inference
        from yolov9.utils.device import select_device

        self.device = select_device(device)
        self.precision = precision
        self.model = prepare_for_inference(model, self.device, precision)
        self.names, self.imgsz = list(names), imgsz
        self.nms_settings = {}

    @torch.inference_mode()
    def infer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        images = images.to(self.device)
        images = images.half() if self.precision == "fp16" else images
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
            out = self.model(images).main
        out = out._replace(pred_dist=out.pred_dist.float(), pred_logits=out.pred_logits.float())
        boxes, scores = self.model.head.decode(out)
        return boxes.float(), scores.float()


def _shape_of(dims: list[Any]) -> tuple[int | None, tuple[int, int] | None]:
    batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else None
    hw = tuple(dims[2:4])
    fixed = (int(hw[0]), int(hw[1])) if all(isinstance(d, int) and d > 0 for d in hw) else None
    return batch, fixed  # type: ignore[return-value]


class OnnxBackend(InferenceBackend):
    kind = "onnxruntime"

    def __init__(
        self, path: Path, *, device: str | torch.device | None = None, threads: int | None = None
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        providers = ["CPUExecutionProvider"]
        if str(device or "auto").startswith(("cuda", "auto")):
            available = ort.get_available_providers()
            providers = [
                p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available
            ] + providers
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        meta = json.loads(self.session.get_modelmeta().custom_metadata_map.get("yolov9", "{}"))
        _load_meta(self, meta, path)
        inp = self.session.get_inputs()[0]
        self.input_name, self.input_type = inp.name, inp.type
        self.fixed_batch, self.fixed_shape = _shape_of(list(inp.shape))
        self.has_nms = "num_dets" in {o.name for o in self.session.get_outputs()}

    def _run(self, images: torch.Tensor) -> list[np.ndarray]:
        array = images.detach().cpu().numpy()
        array = array.astype(np.float16 if "float16" in self.input_type else np.float32)
        return self.session.run(None, {self.input_name: np.ascontiguousarray(array)})

    def infer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, scores = self._run(images)[:2]
        return torch.from_numpy(boxes).float(), torch.from_numpy(scores).float()

    def _raw_detect(self, images: torch.Tensor) -> list[np.ndarray]:
        return self._run(images)


class OpenVinoBackend(InferenceBackend):
    kind = "openvino"

    def __init__(self, path: Path, *, threads: int | None = None, precision: str = "fp32") -> None:
        """``precision``: the CPU plugin's inference precision for non-quantised layers. We
        pin fp32 (the plugin would pick bf16 on CPUs with AMX); ``bf16`` is faster there."""
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(path))
        meta = {}
        if model.has_rt_info(["yolov9"]):
            meta = json.loads(model.get_rt_info(["yolov9"]).astype(str))
        _load_meta(self, meta, path)
        shape = model.inputs[0].get_partial_shape()
        dims = [d.get_length() if d.is_static else None for d in shape]
        self.fixed_batch, self.fixed_shape = _shape_of(dims)
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        }
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = core.compile_model(model, "CPU", config)
        self.has_nms = any("num_dets" in o.get_names() for o in self.compiled.outputs)
        self.kind = "openvino-int8" if "int8" in path.parent.name else "openvino"

    def with_compiled(self, compiled: Any) -> OpenVinoBackend:
        """The same backend (metadata, pre- and post-processing) running another compiled
        model of the same network, e.g. a quantised variant being tried."""
        other = copy.copy(self)
        other.compiled = compiled
        return other

    def _run(self, images: torch.Tensor) -> list[np.ndarray]:
        result = self.compiled(
            np.ascontiguousarray(images.detach().cpu().numpy().astype(np.float32))
        )
        return [result[o] for o in self.compiled.outputs]

    def infer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, scores = self._run(images)[:2]
        return torch.from_numpy(boxes).float(), torch.from_numpy(scores).float()

    def _raw_detect(self, images: torch.Tensor) -> list[np.ndarray]:
        out = self._run(images)
        by_name = {
            next(iter(o.get_names())): v for o, v in zip(self.compiled.outputs, out, strict=True)
        }
        return [
            by_name["num_dets"],
            by_name["det_boxes"],
            by_name["det_scores"],
            by_name["det_classes"],
        ]


class TorchScriptBackend(InferenceBackend):
    kind = "torchscript"

    def __init__(self, path: Path) -> None:
        import warnings

        files = {"yolov9.json": ""}
        with warnings.catch_warnings():  # TorchScript is deprecated upstream
            warnings.simplefilter("ignore", DeprecationWarning)
            self.module = torch.jit.load(str(path), _extra_files=files, map_location="cpu").eval()
        _load_meta(self, json.loads(files["yolov9.json"] or "{}"), path)
        self.fixed_shape = None

    @torch.inference_mode()
    def infer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, scores = self.module(images.float())
        return boxes.float(), scores.float()


def _load_meta(backend: InferenceBackend, meta: dict[str, Any], path: Path) -> None:
    if not meta.get("names"):
        raise CheckpointError(
            f"{path}: no yolov9 metadata (class names); export it with yolov9 export"
        )
    backend.names = [str(n) for n in meta["names"]]
    backend.imgsz = int(meta.get("imgsz", 640))
    backend.nms_settings = {
        k: meta[k] for k in ("conf", "iou", "max_det", "multi_label") if k in meta
    }


def load_backend(
    weights: str | Path,
    *,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    imgsz: int | None = None,
    threads: int | None = None,
) -> InferenceBackend:
    """A backend for a checkpoint (path or release name) or an exported file."""
    path = Path(weights)
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
    from yolov9.checkpoints import load_weights

    loaded = load_weights(weights)
    return TorchBackend(
        loaded.model, loaded.names, imgsz=imgsz or loaded.imgsz, device=device, precision=precision
    )
