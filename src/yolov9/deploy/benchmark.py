"""``yolov9 benchmark``: latency and throughput of every available backend, side by side.

Each backend is built from the same weights (exports go to a temporary folder) and timed on
the same batch-1 input; rounds are interleaved so machine noise hits every row alike. Each run
starts after a short idle gap: the runtimes' worker threads keep spinning for a while after a
run, and without the gap whichever backend comes next pays for it (measured on gelan-t at 640:
OpenVINO fp32 right after an onnxruntime session 59.6 ms, after a 50 ms gap 46.3 ms).

Segmentation models get the same rows: every row runs the network up to its outputs (with
the mask coefficients and prototypes), as for detection; masks are computed after NMS,
outside what is timed here.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from yolov9.checkpoints import load_weights
from yolov9.deploy.export import ExportOptions, export
from yolov9.deploy.formats import BENCHMARK_BACKENDS
from yolov9.inference.backends import InferenceBackend, TorchBackend
from yolov9.inference.exported import OnnxBackend, OpenVinoBackend
from yolov9.tasks.registry import get_task

log = logging.getLogger(__name__)


@dataclass
class Row:
    backend: str
    median_ms: float
    min_ms: float
    max_ms: float

    @property
    def throughput(self) -> float:
        return 1000.0 / self.median_ms


def _available(name: str) -> bool:
    import importlib.util

    if name.startswith("onnxruntime"):
        return importlib.util.find_spec("onnxruntime") is not None
    if name.startswith("openvino"):
        return importlib.util.find_spec("openvino") is not None and (
            not name.startswith("openvino-int8") or importlib.util.find_spec("nncf") is not None
        )
    if name == "cuda":
        return torch.cuda.is_available()
    if name == "ncnn":
        return all(importlib.util.find_spec(m) for m in ("pnnx", "ncnn"))
    if name.startswith("litert"):
        return all(
            importlib.util.find_spec(m)
            for m in ("litert_torch", "ai_edge_litert", "ai_edge_quantizer")
        )
    return True


def _plain_onnx(weights: str | Path, path: Path, imgsz: int) -> Path:
    """The network as a plain ``torch.onnx.export`` of the unfused graph would give it: no
    fusion, no simplification, the reference's (B, 4 + C, A) xywh output (segmentation:
    (B, 4 + C + M, A) with the mask coefficients, and the prototypes as ``output1``)."""
    import warnings

    from yolov9.ops.boxes import box_xyxy_to_xywh

    model = load_weights(weights).model.drop_aux().eval()

    class Plain(torch.nn.Module):
        def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
            main = model(images).main
            boxes, scores = model.head.decode(main)
            parts = [box_xyxy_to_xywh(boxes), scores]
            if main.coeffs is None or main.protos is None:
                return (torch.cat(parts, -1).transpose(1, 2),)
            return torch.cat([*parts, main.coeffs], -1).transpose(1, 2), main.protos

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Plain(),
            (torch.rand(1, 3, imgsz, imgsz),),
            str(path),
            dynamo=True,
            input_names=["images"],
            output_names=list(get_task(model.task).reference_outputs),
        )
    return path


def build_runners(
    weights: str | Path,
    names: tuple[str, ...],
    imgsz: int,
    threads: int,
    data: str | None,
    workdir: Path,
) -> dict[str, Callable[[], object]]:
    x = torch.rand(1, 3, imgsz, imgsz)
    runners: dict[str, Callable[[], object]] = {}
    exported: dict[str, Path] = {}
    loaded = load_weights(weights)
    calib = data or None
    for name in names:
        if not _available(name):
            log.info("skipping %s: not available here", name)
            continue
        log.info("preparing %s", name)
        if name in ("torch", "torch-bf16"):
            backend = TorchBackend(
                loaded.model,
                loaded.names,
                imgsz=imgsz,
                device="cpu",
                precision="bf16" if name == "torch-bf16" else "fp32",
            )
            runners[name] = lambda b=backend: b.infer(x)
        elif name == "cuda":
            backend = TorchBackend(
                loaded.model, loaded.names, imgsz=imgsz, device="cuda", precision="fp16"
            )
            runners[name] = lambda b=backend: (b.infer(x), torch.cuda.synchronize())
        elif name in ("onnxruntime", "openvino", "openvino-bf16"):
            fmt = "onnx" if name == "onnxruntime" else "openvino"
            if fmt not in exported:
                opts = ExportOptions(format=fmt, imgsz=imgsz)
                exported[fmt] = export(weights, workdir / fmt, opts).path
            backend = (
                OnnxBackend(exported[fmt], threads=threads)
                if fmt == "onnx"
                else OpenVinoBackend(
                    exported[fmt],
                    threads=threads,
                    precision="bf16" if name == "openvino-bf16" else "fp32",
                )
            )
            runners[name] = lambda b=backend: b.infer(x)
        elif name.startswith("openvino-int8"):
            if calib is None:  # generated once; both INT8 rows calibrate on it
                calib = str(_synthetic_calibration(workdir, imgsz))
            preset = "mixed" if name.endswith("-mixed") else "performance"
            report = export(
                weights,
                workdir / preset,
                ExportOptions(
                    format="openvino",
                    imgsz=imgsz,
                    int8=True,
                    data=calib,
                    calibration_images=64 if not data else 300,
                    int8_preset=preset,
                    # generated shapes calibrate any model; AP on them means nothing unless
                    # the model was trained on them
                    int8_check=data is not None,
                ),
            )
            for note in report.notes:
                log.info("%s: %s", name, note)
            backend = OpenVinoBackend(report.path, threads=threads)
            runners[name] = lambda b=backend: b.infer(x)
        elif name == "ncnn" or name.startswith("litert"):
            backend = _edge_backend(weights, name, imgsz, threads, data, workdir)
            runners[name] = lambda b=backend: b.infer(x)
        elif name.endswith("-plain"):
            if "plain" not in exported:
                exported["plain"] = _plain_onnx(weights, workdir / "plain.onnx", imgsz)
            onnx_path = exported["plain"]
            if name == "onnxruntime-plain":
                import onnxruntime as ort

                opts = ort.SessionOptions()
                opts.intra_op_num_threads = threads
                sess = ort.InferenceSession(
                    str(onnx_path), opts, providers=["CPUExecutionProvider"]
                )
                runners[name] = lambda s=sess: s.run(None, {"images": x.numpy()})
            else:
                import openvino as ov

                # fp32, as our "openvino" row (the plugin would pick bf16 on CPUs with AMX)
                config = {
                    "PERFORMANCE_HINT": "LATENCY",
                    "INFERENCE_NUM_THREADS": threads,
                    "INFERENCE_PRECISION_HINT": "f32",
                }
                compiled = ov.Core().compile_model(str(onnx_path), "CPU", config)
                runners[name] = lambda c=compiled: c(x.numpy())
    return runners


def _edge_backend(
    weights: str | Path, name: str, imgsz: int, threads: int, data: str | None, workdir: Path
) -> InferenceBackend:
    """An NCNN or LiteRT (fp32, fp16 or INT8) export of ``weights``, loaded to run on
    ``threads`` threads."""
    from yolov9.inference.loader import load_backend

    precision = name.removeprefix("litert").removeprefix("-") or "fp32"
    opts = ExportOptions(format="ncnn" if name == "ncnn" else "tflite", imgsz=imgsz)
    if precision == "fp16":
        opts.half = True
    elif precision == "int8":
        opts.int8, opts.data = True, data or str(_synthetic_calibration(workdir, imgsz))
        opts.calibration_images, opts.int8_check = (300, True) if data else (64, False)
    report = export(weights, workdir / name, opts)
    for note in report.notes:  # INT8: the AP of both, which convolutions stayed in float
        log.info("%s: %s", name, note)
    return load_backend(report.path, threads=threads)


def _synthetic_calibration(workdir: Path, imgsz: int) -> Path:
    from yolov9.data.synthetic import write_dataset

    written = workdir / "calib" / "data.yaml"
    if written.is_file():  # every INT8 row of a run calibrates on the same images
        return written
    return write_dataset(workdir / "calib", splits={"train": 64, "val": 8}, size=(imgsz, imgsz))[
        "yolo"
    ]


def run_benchmark(
    weights: str | Path,
    *,
    imgsz: int = 640,
    threads: int = 2,
    runs: int = 30,
    warmup: int = 5,
    backends: tuple[str, ...] = BENCHMARK_BACKENDS,
    data: str | None = None,
    gap_s: float = 0.05,
) -> list[Row]:
    torch.set_num_threads(threads)
    from yolov9.utils.perf import tune_cpu_allocator

    tune_cpu_allocator()
    with tempfile.TemporaryDirectory(prefix="yolov9-bench-") as tmp:
        runners = build_runners(weights, backends, imgsz, threads, data, Path(tmp))
        times: dict[str, list[float]] = {k: [] for k in runners}
        with torch.inference_mode():
            for r in range(warmup + runs):
                for key, fn in runners.items():
                    time.sleep(gap_s)  # let the previous runtime's threads go idle
                    t = time.perf_counter()
                    fn()
                    if r >= warmup:
                        times[key].append(time.perf_counter() - t)
    return [
        Row(k, 1e3 * statistics.median(v), 1e3 * min(v), 1e3 * max(v)) for k, v in times.items()
    ]


def format_rows(rows: list[Row]) -> str:
    lines = ["| backend | median ms | min ms | max ms | images/s |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {r.backend} | {r.median_ms:.1f} | {r.min_ms:.1f} | {r.max_ms:.1f} "
        f"| {r.throughput:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)
