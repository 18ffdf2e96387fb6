"""GPU benchmarks for docs/benchmarks.md: AMP training, DDP, fp16 and ONNX Runtime inference.

    python benchmarks/bench_gpu.py                                # one CUDA machine, < 10 min
    python benchmarks/bench_gpu.py --out runs/bench_gpu.md        # + the table and a .json
    python benchmarks/bench_gpu.py --dry-run                      # every row on the CPU, tiny

Sections (each row runs on its own; an out-of-memory error, a missing runtime or a failure
becomes that row's note and the rest goes on):

* training - yolov9-t and yolov9-c (PGI, the training graph) at 640 with fp16 autocast,
  GradScaler, channels-last, SGD and gradient clipping as the trainer runs them, on a
  synthetic batch already on the GPU (random images, 8 random boxes each: the model step
  only, no data loading). Each model with the memory option (``--recompute`` / activation
  checkpointing) ``none``, ``highres`` and ``all``: images/s over the timed steps, peak
  ``torch.cuda.max_memory_allocated`` (reset before each row, so weights, gradients and
  optimizer state are included) and both against ``none``.
* DDP - ``torch.distributed.run --standalone`` with one process per GPU (NCCL) runs the same
  step on yolov9-c (the training batch per process); images/s over all ranks and the scaling
  against one process times N. With a single GPU it still runs, as 1 process: that checks
  the NCCL/DDP path and shows DDP's overhead, not scaling (the row says so).
* inference - gelan-t and gelan-c through ``TorchBackend`` (the ``yolov9 predict`` graph:
  fused, channels-last, fp16 weights): forward + box decoding, no NMS; median batch-1 latency
  over 100 runs after warm-up, and batch-32 throughput.
* ONNX Runtime - when onnxruntime has the CUDA or TensorRT execution provider: the exported
  model (``yolov9 export``, fixed 1x3x640x640) on the CUDA EP (fp16 export) and on the
  TensorRT EP (fp32 export, ``trt_fp16_enable``; engine build time in the note), host
  input/output included (numpy in and out, as ``OnnxBackend`` feeds it). The row names the
  provider that actually ran (``session.get_providers()``).
* trtexec - when TensorRT's ``trtexec`` is on PATH: the ONNX export with NMS inside, built
  with ``--fp16``; the median "GPU Compute Time" it prints (README, "TensorRT").

``--dry-run`` runs every section on the CPU at 64 px, batch 2, one or two steps, gelan-t and
yolov9-t only, DDP over gloo with 2 processes and ONNX Runtime on its CPU provider, to prove
the code paths (tests/test_bench_gpu.py); its figures are meaningless.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import gc
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from yolov9.config import LossConfig
from yolov9.engine.build import criterion
from yolov9.engine.recompute import RECOMPUTE_MODES, apply_recompute
from yolov9.loss import Targets
from yolov9.models import build_model

NUM_CLASSES = 80
NAMES = [f"class{i}" for i in range(NUM_CLASSES)]
BOXES_PER_IMAGE = 8
DRY_RUN_BANNER = "dry run (CPU, numbers meaningless)"
Row = dict[str, Any]


# ----------------------------------------------------------------------------- plumbing


@dataclass
class Plan:
    """What to run, at which size: the full run's defaults or the dry run's tiny ones."""

    device: torch.device
    dry_run: bool
    imgsz: int
    train_models: list[str]
    train_batch: dict[str, int]
    modes: list[str]
    warmup: int
    iters: int
    infer_models: list[str]
    infer_runs: int
    infer_batch: int
    ddp_model: str
    ddp_nproc: int
    sections: list[str]
    deadline: float
    cudnn_benchmark: bool

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def left(self) -> float:
        return self.deadline - time.monotonic()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def gib(n_bytes: float) -> float:
    return n_bytes / 2**30


def short(err: BaseException, limit: int = 160) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    text = f"{type(err).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def guarded(row: Row, device: torch.device, run: Callable[[], Row]) -> Row:
    """``row`` updated with what ``run`` measured, or with why it could not (out of memory,
    failure). Memory is freed after the exception is gone, so its frames hold nothing."""
    try:
        row |= run()
        row.setdefault("status", "ok")
    except torch.OutOfMemoryError as err:
        row |= {"status": "oom", "note": f"out of memory ({short(err, 80)})"}
    except Exception as err:
        row |= {"status": "failed", "note": short(err)}
    free_memory(device)
    return row


def skipped(row: Row, why: str) -> Row:
    return row | {"status": "skipped", "note": f"skipped: {why}"}


def synthetic_batch(
    batch: int, imgsz: int, device: torch.device, seed: int = 0
) -> tuple[torch.Tensor, Targets]:
    """Random images in [0, 1] and ``BOXES_PER_IMAGE`` random boxes per image, in pixels."""
    g = torch.Generator().manual_seed(seed)
    n = batch * BOXES_PER_IMAGE
    index = torch.arange(batch).repeat_interleave(BOXES_PER_IMAGE).float()
    cls = torch.randint(0, NUM_CLASSES, (n,), generator=g).float()
    wh = (torch.rand(n, 2, generator=g) * 0.45 + 0.05) * imgsz
    centre = torch.rand(n, 2, generator=g) * imgsz
    x1y1 = (centre - wh / 2).clamp(0, imgsz)
    x2y2 = (centre + wh / 2).clamp(0, imgsz)
    boxes = torch.cat([index[:, None], cls[:, None], x1y1, x2y2], 1)
    images = torch.rand(batch, 3, imgsz, imgsz, generator=g).to(device)
    return images, Targets(boxes).to(device)


class TrainStep:
    """One optimiser step as the trainer takes it: autocast forward (fp16 on CUDA, fp32 on
    the CPU), the PGI loss, scaled backward, unscale, clip, step, zero."""

    def __init__(self, net: torch.nn.Module, model: Any, device: torch.device, scale: int = 1):
        self.net, self.device, self.scale = net, device, scale
        self.loss_fn = criterion(LossConfig(), model).to(device)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(self.params, lr=0.01, momentum=0.937, nesterov=True)
        cuda = device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if cuda else None
        self.dtype = torch.float16 if cuda else None

    def __call__(self, images: torch.Tensor, targets: Targets) -> None:
        dtype = self.dtype
        with torch.autocast(self.device.type, dtype or torch.float32, enabled=dtype is not None):
            out = self.net(images)
        total = self.loss_fn(out, targets).total * self.scale  # DDP averages gradients
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            total.backward()
        torch.nn.utils.clip_grad_norm_(self.params, max_norm=10.0, foreach=True)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def timed_steps(
    step: Callable[[], None], device: torch.device, warmup: int, iters: int, deadline: float
) -> tuple[int, float]:
    """(steps timed, seconds): ``warmup`` untimed steps, then up to ``iters`` timed ones (at
    least one; fewer when ``deadline`` comes first)."""
    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    done = 0
    while done < iters:
        step()
        done += 1
        if done < iters and time.monotonic() > deadline:
            break
    sync(device)
    return done, time.perf_counter() - start


def latencies(
    call: Callable[[], object], device: torch.device, warmup: int, runs: int, deadline: float
) -> list[float]:
    """Seconds per call, each synchronised, after ``warmup`` calls (fewer runs past
    ``deadline``, at least one)."""
    for _ in range(warmup):
        call()
    sync(device)
    times: list[float] = []
    while len(times) < runs:
        start = time.perf_counter()
        call()
        sync(device)
        times.append(time.perf_counter() - start)
        if time.monotonic() > deadline:
            break
    return times


# ----------------------------------------------------------------------------- training


def train_section(plan: Plan) -> list[Row]:
    rows: list[Row] = []
    for name in plan.train_models:
        batch = plan.train_batch[name]
        mine: list[Row] = []
        for mode in plan.modes:
            row: Row = {"model": name, "mode": mode, "batch": batch, "imgsz": plan.imgsz}
            if plan.left() < 15:
                mine.append(skipped(row, "time budget (--budget-s) spent"))
                continue
            run = functools.partial(train_row, plan, name, mode, batch)
            mine.append(guarded(row, plan.device, run))
        base = next((r for r in mine if r["mode"] == "none" and r["status"] == "ok"), None)
        for r in mine:
            if base is not None and r["status"] == "ok":
                r["speed_vs_none"] = r["images_per_s"] / base["images_per_s"]
                if base.get("peak_gib") and r.get("peak_gib"):
                    r["memory_vs_none"] = r["peak_gib"] / base["peak_gib"]
        rows += mine
    return rows


def train_row(plan: Plan, name: str, mode: str, batch: int) -> Row:
    device = plan.device
    if plan.cuda:
        torch.cuda.reset_peak_memory_stats(device)
    model = build_model(name, NUM_CLASSES).to(device, memory_format=torch.channels_last).train()
    wrapped = apply_recompute(model, mode)
    step = TrainStep(model, model, device)
    images, targets = synthetic_batch(batch, plan.imgsz, device)
    n, seconds = timed_steps(
        lambda: step(images, targets), device, plan.warmup, plan.iters, plan.deadline
    )
    row: Row = {
        "images_per_s": n * batch / seconds,
        "step_ms": 1000 * seconds / n,
        "steps": n,
        "recomputed_parts": wrapped,
    }
    if plan.cuda:
        row["peak_gib"] = gib(torch.cuda.max_memory_allocated(device))
        row["peak_reserved_gib"] = gib(torch.cuda.max_memory_reserved(device))
    if n < plan.iters:
        row["note"] = f"{n} of {plan.iters} timed steps (time budget)"
    return row


# ----------------------------------------------------------------------------- DDP


def ddp_section(plan: Plan, train_rows: list[Row], argv_common: list[str]) -> list[Row]:
    nproc = plan.ddp_nproc
    backend = "nccl" if plan.cuda else "gloo"
    batch = plan.train_batch[plan.ddp_model]
    row: Row = {
        "model": plan.ddp_model,
        "nproc": nproc,
        "backend": backend,
        "batch_per_rank": batch,
        "imgsz": plan.imgsz,
    }
    if nproc < 1:
        return [skipped(row, "no CUDA device for a process")]
    if plan.left() < 60:
        return [skipped(row, "time budget (--budget-s) spent")]
    row = guarded(row, plan.device, lambda: run_ddp(plan, nproc, batch, argv_common))
    single = next(
        (
            r
            for r in train_rows
            if r.get("model", "-") == plan.ddp_model
            and r.get("mode", "-") == "none"
            and r.get("status") == "ok"
        ),
        None,
    )
    if row.get("status") == "ok" and single:
        row["scaling"] = row["images_per_s"] / (nproc * single["images_per_s"])
    if row.get("status") == "ok" and plan.cuda and nproc == 1:
        row["note"] = "1 GPU: ran as 1 process (NCCL/DDP path and overhead only, no scaling)"
    return [row]


def run_ddp(plan: Plan, nproc: int, batch: int, argv_common: list[str]) -> Row:
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "ddp.json"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            str(Path(__file__).resolve()),
            "--ddp-worker",
            str(result),
            "--ddp-model",
            plan.ddp_model,
            "--ddp-batch",
            str(batch),
            *argv_common,
        ]
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        timeout = max(30.0, min(plan.left() - 10, 300.0))
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,  # its own process group: the workers go with it on timeout
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TimeoutError(f"torch.distributed.run did not finish in {timeout:.0f} s") from None
        if proc.returncode != 0 or not result.exists():
            lines = [ln for ln in output.splitlines() if ln.strip()]
            errors = [ln for ln in lines if "Error" in ln or "error" in ln] or lines
            raise RuntimeError(
                f"torch.distributed.run exited {proc.returncode}: "
                + (errors[-1].strip() if errors else "no output")
            )
        figures: Row = json.loads(result.read_text())
        figures["wall_s"] = time.monotonic() - start
        return figures


def ddp_worker(args: argparse.Namespace) -> None:
    """One rank under torch.distributed.run: DDP training steps; rank 0 writes the figures."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    world = int(os.environ["WORLD_SIZE"])
    cuda = not args.dry_run
    if cuda:
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    try:
        model = build_model(args.ddp_model, NUM_CLASSES)
        model = model.to(device, memory_format=torch.channels_last).train()
        net = DistributedDataParallel(model, device_ids=[local] if cuda else None)
        step = TrainStep(net, model, device, scale=world)
        images, targets = synthetic_batch(args.ddp_batch, args.imgsz, device, seed=rank)
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(args.warmup):
            step(images, targets)
        sync(device)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(args.iters):
            step(images, targets)
        sync(device)
        elapsed = torch.tensor([time.perf_counter() - start], device=device)
        dist.all_reduce(elapsed, op=dist.ReduceOp.MAX)
        seconds = float(elapsed.item())
        peak = torch.tensor([torch.cuda.max_memory_allocated(device) if cuda else 0], device=device)
        dist.all_reduce(peak, op=dist.ReduceOp.MAX)
        if rank == 0:
            figures = {
                "images_per_s": world * args.ddp_batch * args.iters / seconds,
                "step_ms": 1000 * seconds / args.iters,
                "steps": args.iters,
                "world_size": world,
                "backend": dist.get_backend(),
            }
            if cuda:
                figures["peak_gib_per_rank"] = gib(float(peak.item()))
            Path(args.ddp_worker).write_text(json.dumps(figures))
    finally:
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- inference


def infer_section(plan: Plan) -> list[Row]:
    from yolov9.inference.backends import TorchBackend

    precision = "fp16" if plan.cuda else "fp32"  # fp16 weights are for CUDA only
    rows: list[Row] = []
    for name in plan.infer_models:
        for batch in [1] + ([plan.infer_batch] if plan.infer_batch > 1 else []):
            row: Row = {
                "model": name,
                "runtime": "PyTorch (TorchBackend)",
                "precision": precision,
                "batch": batch,
            }
            if plan.left() < 10:
                rows.append(skipped(row, "time budget (--budget-s) spent"))
                continue

            def run(name: str = name, batch: int = batch) -> Row:
                backend = TorchBackend(
                    build_model(name, NUM_CLASSES),
                    NAMES,
                    imgsz=plan.imgsz,
                    device=plan.device,
                    precision=precision,
                )
                x = torch.rand(batch, 3, plan.imgsz, plan.imgsz, device=plan.device)
                runs = plan.infer_runs if batch == 1 else max(plan.infer_runs // 5, 1)
                warmup = 2 if plan.dry_run else 10
                times = latencies(
                    lambda: backend.infer(x), plan.device, warmup, runs, plan.deadline
                )
                return latency_figures(times, batch)

            rows.append(guarded(row, plan.device, run))
    return rows


def latency_figures(times: list[float], batch: int) -> Row:
    ms = sorted(1000 * t for t in times)
    median = statistics.median(ms)
    return {
        "median_ms": median,
        "p90_ms": ms[min(len(ms) - 1, int(0.9 * len(ms)))],
        "runs": len(ms),
        "images_per_s": 1000 * batch / median,
    }


# ----------------------------------------------------------------------------- ONNX Runtime


@dataclass
class OrtVariant:
    label: str
    provider: str
    half_export: bool
    options: dict[str, Any]


def ort_variants(plan: Plan, cache: Path) -> list[OrtVariant]:
    trt = {
        "trt_fp16_enable": True,
        "trt_engine_cache_enable": True,
        "trt_engine_cache_path": str(cache),
    }
    variants = [
        OrtVariant("ONNX Runtime CUDA EP", "CUDAExecutionProvider", True, {}),
        OrtVariant("ONNX Runtime TensorRT EP", "TensorrtExecutionProvider", False, trt),
    ]
    if plan.dry_run:  # the code path, on the provider every build has
        variants.append(OrtVariant("ONNX Runtime CPU EP", "CPUExecutionProvider", False, {}))
    return variants


def onnx_section(plan: Plan) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        return onnx_rows(plan, Path(tmp))


def onnx_rows(plan: Plan, tmp: Path) -> list[Row]:
    (tmp / "trt_cache").mkdir(parents=True, exist_ok=True)
    variants = ort_variants(plan, tmp / "trt_cache")
    missing = [m for m in ("onnxruntime", "onnx", "onnxscript") if not module_available(m)]
    available: list[str] = []
    version = ""
    if not missing:
        import onnxruntime as ort

        available = list(ort.get_available_providers())
        version = ort.__version__
    rows: list[Row] = []
    exports: dict[tuple[str, bool], Path | BaseException] = {}
    for v in variants:  # the quick CUDA rows first, then TensorRT's engine builds
        for name in plan.infer_models:
            precision = "fp16" if v.half_export or v.options.get("trt_fp16_enable") else "fp32"
            row: Row = {"model": name, "runtime": v.label, "precision": precision, "batch": 1}
            if missing:
                rows.append(skipped(row, f"{', '.join(missing)} not installed"))
                continue
            if v.provider not in available:
                have = ", ".join(available)
                rows.append(skipped(row, f"not in onnxruntime {version}'s providers ({have})"))
                continue
            needs = 150 if v.provider == "TensorrtExecutionProvider" else 45
            if plan.left() < needs:
                rows.append(skipped(row, "time budget (--budget-s) spent"))
                continue

            def run(name: str = name, v: OrtVariant = v) -> Row:
                key = (name, v.half_export)
                if key not in exports:
                    try:
                        exports[key] = export_onnx(name, plan.imgsz, v.half_export, tmp)
                    except Exception as err:
                        exports[key] = err
                path = exports[key]
                if isinstance(path, BaseException):
                    raise RuntimeError(f"export failed: {short(path, 120)}")
                return ort_latency(plan, path, v)

            rows.append(guarded(row, plan.device, run))
    rows += trtexec_rows(plan, tmp, missing)
    return rows


def trtexec_rows(plan: Plan, tmp: Path, missing: list[str]) -> list[Row]:
    """TensorRT's own ``trtexec`` on the ONNX export with NMS (fp32 export, ``--fp16``
    engine): the command README's TensorRT section gives users; its GPU compute time."""
    import shutil

    trtexec = shutil.which("trtexec")
    rows: list[Row] = []
    for name in plan.infer_models:
        row: Row = {"model": name, "runtime": "trtexec (NMS inside)", "precision": "fp16"}
        row["batch"] = 1
        if missing or trtexec is None:
            why = f"{', '.join(missing)} not installed" if missing else "trtexec not on PATH"
            rows.append(skipped(row, why))
            continue
        if plan.left() < 150:
            rows.append(skipped(row, "time budget (--budget-s) spent"))
            continue

        def run(name: str = name, trtexec: str = trtexec) -> Row:
            from yolov9.checkpoints import save_checkpoint
            from yolov9.deploy.export import ExportOptions, export

            weights = tmp / f"{name}.pt"
            if not weights.exists():
                save_checkpoint(weights, build_model(name, NUM_CLASSES), NAMES)
            opts = ExportOptions(format="onnx", imgsz=plan.imgsz, nms=True)
            path = export(weights, tmp / f"{name}-nms", opts).path
            cmd = [trtexec, f"--onnx={path}", "--fp16", "--iterations=200", "--warmUp=2000"]
            limit = max(60.0, plan.left())
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
            median = trtexec_median_ms(proc.stdout)
            if proc.returncode != 0 or median is None:
                tail = (proc.stdout + proc.stderr)[-300:].replace("\n", " ")
                raise RuntimeError(f"trtexec failed (exit {proc.returncode}): ...{tail}")
            return {
                "median_ms": median,
                "images_per_s": 1000 / median,
                "note": f"`{shlex.join(['trtexec', *cmd[1:]])}`; GPU compute time",
            }

        rows.append(guarded(row, plan.device, run))
    return rows


def trtexec_median_ms(output: str) -> float | None:
    """The median of trtexec's "GPU Compute Time" line (ms), None when it is absent."""
    import re

    match = re.search(r"GPU Compute Time:.*?median = ([0-9.]+) ms", output)
    return float(match.group(1)) if match else None


def module_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def export_onnx(name: str, imgsz: int, half: bool, tmp: Path) -> Path:
    from yolov9.checkpoints import save_checkpoint
    from yolov9.deploy.export import ExportOptions, export

    weights = tmp / f"{name}.pt"
    if not weights.exists():
        save_checkpoint(weights, build_model(name, NUM_CLASSES), NAMES)
    out = tmp / f"{name}{'-fp16' if half else ''}.onnx"
    return export(weights, out, ExportOptions(format="onnx", imgsz=imgsz, half=half)).path


def ort_latency(plan: Plan, path: Path, v: OrtVariant) -> Row:
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    providers: list[Any] = [(v.provider, v.options)]
    if v.provider == "TensorrtExecutionProvider":
        providers.append("CUDAExecutionProvider")  # for any node TensorRT does not take
    start = time.monotonic()
    session = ort.InferenceSession(str(path), options, providers=providers)
    ran = session.get_providers()
    if ran[0] != v.provider:
        return {
            "status": "skipped",
            "providers": ran,
            "note": f"skipped: {v.provider} did not load; onnxruntime chose {ran[0]}",
        }
    inp = session.get_inputs()[0]
    dtype = np.float16 if "float16" in inp.type else np.float32
    x = np.random.default_rng(0).random((1, 3, plan.imgsz, plan.imgsz)).astype(dtype)
    session.run(None, {inp.name: x})  # TensorRT builds its engine here
    first_s = time.monotonic() - start
    times = latencies(
        lambda: session.run(None, {inp.name: x}),
        torch.device("cpu"),  # session.run returns host arrays: it has synchronised
        2 if plan.dry_run else 10,
        plan.infer_runs,
        plan.deadline,
    )
    row = latency_figures(times, 1)
    row["providers"] = ran
    row["setup_s"] = first_s
    note = f"ran on {ran[0]}; host I/O included"
    if v.provider == "TensorrtExecutionProvider":
        note += f"; engine build + first run {first_s:.0f} s"
    row["note"] = note
    return row


# ----------------------------------------------------------------------------- report


def environment(plan: Plan) -> Row:
    env: Row = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", *sys.argv]),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "dry_run": plan.dry_run,
        "device": str(plan.device),
        "cudnn_benchmark": plan.cudnn_benchmark,
    }
    if plan.cuda:
        props = torch.cuda.get_device_properties(plan.device)
        env |= {
            "gpu": props.name,
            "gpu_memory_gib": gib(props.total_memory),
            "gpu_count": torch.cuda.device_count(),
        }
        with contextlib.suppress(Exception):
            env["driver"] = (
                subprocess.run(
                    ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                )
                .stdout.split("\n")[0]
                .strip()
            )
    with contextlib.suppress(Exception):
        import onnxruntime as ort

        env["onnxruntime"] = ort.__version__
        env["ort_providers"] = list(ort.get_available_providers())
    return env


def cell(key: str, digits: int = 1, suffix: str = "") -> Callable[[Row], str]:
    """A row's ``key`` as a table cell: floats to ``digits``, "-" when absent."""

    def get(row: Row) -> str:
        value = row.get(key)
        if value is None:
            return "-"
        return f"{value:.{digits}f}{suffix}" if isinstance(value, float) else f"{value}{suffix}"

    return get


Columns = list[tuple[str, Callable[[Row], str]]]
TRAIN_COLUMNS: Columns = [
    ("model", cell("model")),
    ("memory option", cell("mode")),
    ("batch", cell("batch")),
    ("images/s", cell("images_per_s")),
    ("step ms", cell("step_ms")),
    ("peak GiB", cell("peak_gib", 2)),
    ("speed vs none", cell("speed_vs_none", 2, "x")),
    ("memory vs none", cell("memory_vs_none", 2, "x")),
    ("note", lambda r: r.get("note", "")),
]
DDP_COLUMNS: Columns = [
    ("model", cell("model")),
    ("processes", cell("nproc")),
    ("backend", cell("backend")),
    ("batch/rank", cell("batch_per_rank")),
    ("images/s", cell("images_per_s")),
    ("peak GiB/rank", cell("peak_gib_per_rank", 2)),
    ("scaling", cell("scaling", 2, "x")),
    ("note", lambda r: r.get("note", "")),
]
INFER_COLUMNS: Columns = [
    ("model", cell("model")),
    ("runtime", cell("runtime")),
    ("precision", cell("precision")),
    ("batch", cell("batch")),
    ("median ms", cell("median_ms", 2)),
    ("p90 ms", cell("p90_ms", 2)),
    ("images/s", cell("images_per_s")),
    ("note", lambda r: r.get("note", "")),
]
NUMERIC = ("/s", "ms", "GiB", "GiB/rank", "none", "batch", "scaling", "processes", "batch/rank")


def table(columns: Columns, rows: list[Row]) -> list[str]:
    """A markdown table; figure columns right-aligned."""
    heads = [h for h, _ in columns]
    lines = ["| " + " | ".join(heads) + " |"]
    lines.append("|" + "|".join("---:" if h.endswith(NUMERIC) else "---" for h in heads) + "|")
    lines += ["| " + " | ".join(get(r) for _, get in columns) + " |" for r in rows]
    return lines


def report(plan: Plan, env: Row, results: dict[str, list[Row]], elapsed: float) -> str:
    dry = f" — **{DRY_RUN_BANNER}**" if plan.dry_run else ""
    where = "CPU"
    if plan.cuda:
        where = (
            f"{env['gpu']} ({env['gpu_memory_gib']:.0f} GiB) x{env['gpu_count']}, "
            f"driver {env.get('driver', '?')}"
        )
    lines = [
        f"## GPU: training, DDP and inference (issue 13){dry}",
        "",
        f"`{env['command']}` — {env['date']}, {where}; torch {env['torch']}, CUDA {env['cuda']},"
        f" cuDNN {env['cudnn']}, onnxruntime {env.get('onnxruntime', 'not installed')};"
        f" cudnn.benchmark {'on' if plan.cudnn_benchmark else 'off (as the trainer)'};"
        f" {elapsed:.0f} s in all.",
        "",
    ]
    if "train" in results:
        precision = "fp16 autocast + GradScaler" if plan.cuda else "fp32 (CPU: no fp16, no memory)"
        lines += [
            f"### Training: AMP step at {plan.imgsz}, synthetic batch on the device{dry}",
            "",
            f"{precision}, channels-last, SGD, gradient clipping; {plan.warmup} warm-up step(s),"
            f" then {plan.iters} timed. Peak = torch.cuda.max_memory_allocated (weights,"
            " gradients and optimizer state included). Memory option = `--recompute`.",
            "",
            *table(TRAIN_COLUMNS, results["train"]),
            "",
        ]
    if "ddp" in results:
        lines += [
            f"### DDP: torch.distributed.run, one process per GPU{dry}",
            "",
            *table(DDP_COLUMNS, results["ddp"]),
            "",
            "scaling = images/s / (processes x one process's images/s, memory option none).",
            "",
        ]
    infer = results.get("infer", []) + results.get("onnx", [])
    if infer:
        lines += [
            f"### Inference at {plan.imgsz}: forward + box decoding, no NMS{dry}",
            "",
            *table(INFER_COLUMNS, infer),
            "",
        ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="every row on the CPU, tiny sizes")
    ap.add_argument("--device", default="cuda", help="CUDA device (default cuda)")
    ap.add_argument("--out", type=Path, help="also write the table here and a .json beside it")
    ap.add_argument(
        "--budget-s", type=float, default=540.0, help="no new row after this many seconds"
    )
    ap.add_argument("--imgsz", type=int, help="default 640 (dry run 64)")
    ap.add_argument("--batch-t", type=int, default=64, help="yolov9-t training batch")
    ap.add_argument("--batch-c", type=int, default=32, help="yolov9-c training batch")
    ap.add_argument("--modes", nargs="+", choices=RECOMPUTE_MODES, default=list(RECOMPUTE_MODES))
    ap.add_argument("--warmup", type=int, help="untimed training steps (default 5, dry run 1)")
    ap.add_argument("--iters", type=int, help="timed training steps (default 20, dry run 1)")
    ap.add_argument("--infer-runs", type=int, help="timed batch-1 runs (default 100)")
    ap.add_argument("--infer-batch", type=int, help="throughput batch (default 32, 0: none)")
    ap.add_argument("--ddp-nproc", type=int, help="processes (default: the GPUs; dry run 2)")
    ap.add_argument(
        "--sections",
        nargs="+",
        choices=("train", "ddp", "infer", "onnx"),
        default=["train", "ddp", "infer", "onnx"],
    )
    ap.add_argument("--cudnn-benchmark", action="store_true", help="the trainer leaves it off")
    # internal: one rank of the DDP section, started by torch.distributed.run
    ap.add_argument("--ddp-worker", metavar="RESULT_JSON", help=argparse.SUPPRESS)
    ap.add_argument("--ddp-model", default="yolov9-c", help=argparse.SUPPRESS)
    ap.add_argument("--ddp-batch", type=int, default=32, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def make_plan(args: argparse.Namespace, start: float) -> Plan:
    dry = args.dry_run
    device = torch.device("cpu") if dry else torch.device(args.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # set_device wants an index
    train_models = ["yolov9-t"] if dry else ["yolov9-t", "yolov9-c"]
    batch = (
        {"yolov9-t": 2, "yolov9-c": 2}
        if dry
        else {"yolov9-t": args.batch_t, "yolov9-c": args.batch_c}
    )
    gpus = 0 if dry else torch.cuda.device_count()
    return Plan(
        device=device,
        dry_run=dry,
        imgsz=args.imgsz or (64 if dry else 640),
        train_models=train_models,
        train_batch=batch,
        modes=args.modes,
        warmup=args.warmup if args.warmup is not None else (1 if dry else 5),
        iters=args.iters or (1 if dry else 20),
        infer_models=["gelan-t"] if dry else ["gelan-t", "gelan-c"],
        infer_runs=args.infer_runs or (3 if dry else 100),
        infer_batch=args.infer_batch if args.infer_batch is not None else (2 if dry else 32),
        ddp_model="yolov9-t" if dry else "yolov9-c",
        ddp_nproc=args.ddp_nproc or (2 if dry else gpus),
        sections=args.sections,
        deadline=start + args.budget_s,
        cudnn_benchmark=args.cudnn_benchmark,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.ddp_worker:
        if args.imgsz is None:
            args.imgsz = 64 if args.dry_run else 640
        args.warmup = args.warmup if args.warmup is not None else (1 if args.dry_run else 5)
        args.iters = args.iters or (1 if args.dry_run else 20)
        ddp_worker(args)
        return 0
    if not args.dry_run and torch.device(args.device).type != "cuda":
        print(f"bench_gpu.py: --device must be a CUDA device, got {args.device!r}", file=sys.stderr)
        return 2
    if not args.dry_run and not torch.cuda.is_available():
        print(
            f"bench_gpu.py: no CUDA device here (torch {torch.__version__}, built for CUDA "
            f"{torch.version.cuda}). Run it on a GPU machine, or pass --dry-run to check the "
            "code paths on the CPU.",
            file=sys.stderr,
        )
        return 2
    start = time.monotonic()
    plan = make_plan(args, start)
    if plan.cuda:
        torch.cuda.set_device(plan.device)
        torch.backends.cudnn.benchmark = plan.cudnn_benchmark
    env = environment(plan)
    print(f"# {env['command']}" + (f"  [{DRY_RUN_BANNER}]" if plan.dry_run else ""), flush=True)
    worker_args = [
        "--imgsz",
        str(plan.imgsz),
        "--warmup",
        str(plan.warmup),
        "--iters",
        str(plan.iters),
        *(["--dry-run"] if plan.dry_run else []),
        *(["--cudnn-benchmark"] if plan.cudnn_benchmark else []),
    ]
    results: dict[str, list[Row]] = {}
    sections: list[tuple[str, Callable[[], list[Row]]]] = [
        ("train", lambda: train_section(plan)),
        ("ddp", lambda: ddp_section(plan, results.get("train", []), worker_args)),
        ("infer", lambda: infer_section(plan)),
        ("onnx", lambda: onnx_section(plan)),
    ]
    for key, section in sections:
        if key not in plan.sections:
            continue
        t0 = time.monotonic()
        try:
            results[key] = section()
        except Exception as err:  # a section's own setup: its rows say why
            results[key] = [{"model": "-", "status": "failed", "note": short(err)}]
        print(f"[{key}: {time.monotonic() - t0:.1f} s]", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - start
    text = report(plan, env, results, elapsed)
    print(text, flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        figures = {"environment": env, "elapsed_s": elapsed, **results}
        args.out.with_suffix(".json").write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
