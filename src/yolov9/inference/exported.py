"""Backends for exported files: ONNX Runtime, OpenVINO and TorchScript.

Each reads the metadata written by ``yolov9 export`` (class names, input size, task, NMS
settings) and the input shape the graph accepts, and implements :class:`InferenceBackend`.
Outputs are read by name, the names the model's task declares (``Task.outputs``, or
``Task.nms_outputs`` with NMS inside), so a segmentation export gives the same
:class:`Decoded` (or, with NMS inside, the same :class:`Detections`) as its checkpoint.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolov9.errors import CheckpointError
from yolov9.inference.backends import Decoded, InferenceBackend, decoded_from
from yolov9.inference.caption_graph import GraphDecoder, Run, read_caption_metadata
from yolov9.tasks.base import BOX_NMS_OUTPUTS
from yolov9.tasks.registry import TASKS, get_task
from yolov9.utils.optional import require
from yolov9.utils.threads import ThreadGovernor

EXPORT_SUFFIXES = (".onnx", ".xml", ".torchscript")
# every output name an export of a registered task has
_KNOWN = frozenset(n for t in TASKS.values() for n in t.outputs + t.nms_outputs)


def _shape_of(dims: list[Any]) -> tuple[int | None, tuple[int, int] | None]:
    batch = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else None
    hw = tuple(dims[2:4])
    fixed = (int(hw[0]), int(hw[1])) if all(isinstance(d, int) and d > 0 for d in hw) else None
    return batch, fixed  # type: ignore[return-value]


class _GraphBackend(InferenceBackend):
    """An ONNX or OpenVINO graph: outputs looked up by name.

    On the CPU the runtime's thread count follows the machine, as for PyTorch models
    (:class:`~yolov9.utils.threads.ThreadGovernor`): the runtimes fix their thread pool when a
    session (compiled model) is made, so the backend keeps one per thread count it has
    needed, made the first time (the busy machine's one-thread session costs one session set-up
    when a neighbour first takes a core).
    """

    _variants: dict[int, Any]
    governor: ThreadGovernor

    def _adapt_threads(self, threads: int | None, first: Any, *, cpu: bool = True) -> None:
        """``first``: the session (compiled model) made with the full thread count."""
        self.governor = ThreadGovernor(threads, set_threads=lambda _: None)
        self.governor.enabled = self.governor.enabled and cpu
        self._variants = {self.governor.most: first}

    def _make(self, threads: int) -> Any:
        """A session (compiled model) of this graph running ``threads`` threads."""
        raise NotImplementedError

    def _runner(self) -> Any:
        n = self.governor.poll()
        if n not in self._variants:
            self._variants[n] = self._make(n)
        return self._variants[n]

    def _named(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _check_outputs(self, names: set[str], path: Path) -> None:
        """NMS inside or not, from the outputs; every output the task needs is there."""
        self.has_nms = BOX_NMS_OUTPUTS[0] in names
        task = get_task(self.task)
        wanted = task.nms_outputs if self.has_nms else task.outputs
        missing = [n for n in wanted if n not in names]
        if missing:
            raise CheckpointError(
                f"{path}: a {self.task} export needs the outputs {', '.join(wanted)}; "
                f"missing {', '.join(missing)} (export it again with yolov9 export)"
            )

    def _load_decoder(
        self, meta: dict[str, Any], path: Path, runner: Callable[[Path], Run]
    ) -> None:
        """The caption decoder the metadata names (caption and all-task models), run by
        ``runner(decoder file)``."""
        if "caption" not in meta:
            if get_task(self.task).gives("caption"):
                raise CheckpointError(f"{path}: a caption export without its decoder; export again")
            return
        decoder, spec, self.tokenizer = read_caption_metadata(meta["caption"], path)
        self.caption_decoder = GraphDecoder(runner(decoder), spec)

    def infer(self, images: torch.Tensor) -> Decoded:
        out = self._named(images)
        named = {n: torch.from_numpy(out[n]).float() for n in get_task(self.task).outputs}
        decoded = decoded_from(named)
        if "caption_memory" in named:
            decoded = decoded._replace(captions=self.captions(named["caption_memory"]))
        return decoded

    def _raw_detect(self, images: torch.Tensor) -> list[np.ndarray]:
        out = self._named(images)
        return [out[n] for n in get_task(self.task).nms_outputs]


class OnnxBackend(_GraphBackend):
    kind = "onnxruntime"

    def __init__(
        self,
        path: Path,
        *,
        device: str | torch.device | None = None,
        threads: int | None = None,
        spinning: bool = True,
    ) -> None:
        """``threads``: fixed (None: one per core, fewer while other processes take cores);
        ``spinning``: idle worker threads spin between operators (onnxruntime's default;
        fastest on a quiet machine, and on a busy one the governor drops to one thread)."""
        require(f"{path}: running it", "export", "onnxruntime")
        import onnxruntime as ort

        self.path, self.spinning = path, spinning
        providers = ["CPUExecutionProvider"]
        if str(device or "auto").startswith(("cuda", "auto")):
            available = ort.get_available_providers()
            providers = [
                p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available
            ] + providers
        self.providers = providers
        self.session = self._session(threads)
        self._adapt_threads(threads, self.session, cpu=providers == ["CPUExecutionProvider"])
        meta = json.loads(self.session.get_modelmeta().custom_metadata_map.get("yolov9", "{}"))
        _load_meta(self, meta, path)
        inp = self.session.get_inputs()[0]
        self.input_name, self.input_type = inp.name, inp.type
        self.fixed_batch, self.fixed_shape = _shape_of(list(inp.shape))
        self.output_names = [o.name for o in self.session.get_outputs()]
        self._check_outputs(set(self.output_names), path)
        self._load_decoder(meta, path, self._decoder_runner)

    def _decoder_runner(self, decoder: Path) -> Run:
        import onnxruntime as ort

        session = ort.InferenceSession(str(decoder), providers=["CPUExecutionProvider"])
        return lambda memory, tokens: session.run(None, {"memory": memory, "tokens": tokens})[0]

    def _session(self, threads: int | None) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        spin = "1" if self.spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        return ort.InferenceSession(str(self.path), options, providers=self.providers)

    def _make(self, threads: int) -> Any:
        return self._session(threads)

    def _named(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        array = images.detach().cpu().numpy()
        array = array.astype(np.float16 if "float16" in self.input_type else np.float32)
        out = self._runner().run(None, {self.input_name: np.ascontiguousarray(array)})
        return dict(zip(self.output_names, out, strict=True))


def _port_name(port: Any) -> str:
    """An OpenVINO output's name: the export's own name among the tensor's names."""
    names = set(port.get_names())
    return next(iter(sorted(names & _KNOWN) or sorted(names)), "")


class OpenVinoBackend(_GraphBackend):
    kind = "openvino"

    def __init__(self, path: Path, *, threads: int | None = None, precision: str = "fp32") -> None:
        """``precision``: the CPU plugin's inference precision for non-quantised layers. We
        pin fp32 (the plugin would pick bf16 on CPUs with AMX); ``bf16`` is faster there."""
        require(f"{path}: running it", "export", "openvino")
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
        self.core, self.model = core, model
        self.config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        }
        self.compiled = self._make(threads)
        self._check_outputs({_port_name(o) for o in self.compiled.outputs}, path)
        self.kind = "openvino-int8" if "int8" in path.parent.name else "openvino"
        self._adapt_threads(threads, self.compiled)
        self._load_decoder(meta, path, self._decoder_runner)

    def _decoder_runner(self, decoder: Path) -> Run:
        compiled = self.core.compile_model(str(decoder), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return lambda memory, tokens: compiled({"memory": memory, "tokens": tokens})[0]

    def _make(self, threads: int | None) -> Any:
        config = {**self.config, **({"INFERENCE_NUM_THREADS": threads} if threads else {})}
        return self.core.compile_model(self.model, "CPU", config)

    def with_compiled(self, compiled: Any) -> OpenVinoBackend:
        """The same backend (metadata, pre- and post-processing) running another compiled
        model of the same network, e.g. a quantised variant being tried (with the thread
        count it was compiled with)."""
        other = copy.copy(self)
        other.compiled = compiled
        other._adapt_threads(None, compiled, cpu=False)
        return other

    def _named(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        compiled = self._runner()
        result = compiled(np.ascontiguousarray(images.detach().cpu().numpy().astype(np.float32)))
        return {_port_name(o): result[o] for o in compiled.outputs}


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
    def infer(self, images: torch.Tensor) -> Decoded:
        # boxes, scores (and, for segmentation models, coefficients and prototypes)
        out = self.module(images.float())
        expected = len(get_task(self.task).outputs)
        if len(out) != expected:
            raise CheckpointError(
                f"this {self.task} TorchScript export returned {len(out)} outputs, not "
                f"{expected}; export it again with yolov9 export"
            )
        return Decoded(*(o.float() for o in out))


def _load_meta(backend: InferenceBackend, meta: dict[str, Any], path: Path) -> None:
    if not meta.get("names"):
        raise CheckpointError(
            f"{path}: no yolov9 metadata (class names); export it with yolov9 export"
        )
    backend.names = [str(n) for n in meta["names"]]
    backend.stuff_names = tuple(str(n) for n in meta.get("stuff_names", ()))
    backend.imgsz = int(meta.get("imgsz", 640))
    # exports made before segmentation could be exported say no task: detection
    backend.task = get_task(str(meta.get("task", "detect")), path).name
    backend.nms_settings = {
        k: meta[k] for k in ("conf", "iou", "max_det", "multi_label") if k in meta
    }
