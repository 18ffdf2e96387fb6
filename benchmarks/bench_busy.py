"""Speed on a quiet machine and beside one busy process, for each thread/wait-policy setting.

    python benchmarks/bench_busy.py                  # every workload, 2 rounds
    python benchmarks/bench_busy.py --only predict-256 --rounds 1

Each measurement runs in a fresh process (OpenMP reads its wait policy when torch loads), with
the settings of its row in the environment, first with the machine quiet and then beside a
busy neighbour (a Python process spinning on one core), alternating over ``--rounds``; the
table gives medians over the rounds. Workloads:

- ``predict-256`` / ``predict-640``: ``Detector.predict`` of gelan-t at 256 / 640 px on
  640x480 photos, one image per call;
- ``onnxruntime-640`` / ``openvino-640``: the exported network at 640;
- ``train-256``: training steps of yolov9-t (PGI), batch 8 at 256 px, bf16 autocast where the
  CPU has it (the training default), forward, loss, backward and SGD step.

"adaptive threads" is the default: :class:`yolov9.utils.threads.ThreadGovernor`, polled
between images (steps) as ``predict``, ``val`` and ``train`` poll it.

Random weights: speed does not depend on them. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# row name -> (environment to set, variables to remove, torch threads)
_FIXED = {"YOLOV9_ADAPT_THREADS": "0"}
SETTINGS: dict[str, tuple[dict[str, str], tuple[str, ...], int]] = {
    "2 threads, spinning (torch default)": (_FIXED, ("OMP_WAIT_POLICY",), 2),
    "1 thread": (_FIXED, ("OMP_WAIT_POLICY",), 1),
    "OMP_WAIT_POLICY=PASSIVE": ({**_FIXED, "OMP_WAIT_POLICY": "PASSIVE"}, (), 2),
    "adaptive threads (ours, default)": ({}, ("OMP_WAIT_POLICY", "YOLOV9_ADAPT_THREADS"), 2),
}
# exported runtimes: row name -> (environment, spinning); their default thread count (one per
# core) in every row
_ADAPT = ("YOLOV9_ADAPT_THREADS",)
RUNTIME_SETTINGS: dict[str, list[tuple[str, dict[str, str], bool]]] = {
    "onnxruntime-640": [
        ("2 threads, spinning (ORT default)", _FIXED, True),
        ("2 threads, no spinning", _FIXED, False),
        ("adaptive threads (ours, default)", {}, True),
    ],
    "openvino-640": [
        ("2 threads (OpenVINO default)", _FIXED, False),
        ("adaptive threads (ours, default)", {}, False),
    ],
}
WORKLOADS = ("predict-256", "predict-640", "onnxruntime-640", "openvino-640", "train-256")


# ----------------------------------------------------------------------------- child side
def _time(fn, runs: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def _photos(n: int):
    import cv2
    import numpy as np

    folder = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "images"
    files = sorted(folder.glob("*.jpg"))[:n] if folder.is_dir() else []
    images = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
    if not images:
        from yolov9.data.synthetic import make_photo

        images = [make_photo(np.random.default_rng(i), 480, 640) for i in range(n)]
    return images


def child(workload: str, threads: int, spinning: bool, workdir: Path) -> float:
    import torch

    from yolov9.models import build_model
    from yolov9.utils.perf import tune_cpu_allocator

    torch.set_num_threads(threads)
    tune_cpu_allocator()
    torch.manual_seed(0)
    if workload == "train-256":
        return train_step_ms()
    if workload.startswith("predict"):
        from yolov9 import Detector

        size = int(workload.split("-")[1])
        names = [str(i) for i in range(80)]
        detector = Detector(build_model("gelan-t", 80), names, imgsz=size)
        images = _photos(8)
        state = {"i": 0}

        def predict() -> None:
            detector.predict(images[state["i"] % len(images)])
            state["i"] += 1

        return _time(predict, 40 if size < 640 else 20, 8)
    x = torch.rand(1, 3, 640, 640)
    from yolov9.checkpoints import save_checkpoint
    from yolov9.deploy.export import ExportOptions, export

    weights = workdir / "gelan-t.pt"
    if not weights.is_file():
        save_checkpoint(weights, build_model("gelan-t", 80), [str(i) for i in range(80)])
    fmt = "onnx" if workload.startswith("onnx") else "openvino"
    exported = workdir / fmt
    marker = workdir / f"{fmt}.json"
    if not marker.is_file():
        path = export(weights, exported, ExportOptions(format=fmt, imgsz=640)).path
        marker.write_text(json.dumps({"path": str(path)}))
    path = Path(json.loads(marker.read_text())["path"])
    if fmt == "onnx":
        from yolov9.inference.exported import OnnxBackend

        backend = OnnxBackend(path, spinning=spinning)
    else:
        from yolov9.inference.exported import OpenVinoBackend

        backend = OpenVinoBackend(path)
    return _time(lambda: backend.infer(x), 20, 5)


def train_step_ms(
    name: str = "yolov9-t",
    imgsz: int = 256,
    batch: int = 8,
    *,
    recompute: str = "none",
    bf16: bool | None = None,
    runs: int = 6,
    warmup: int = 2,
) -> float:
    """Median ms of one training step on a fixed synthetic batch (4 boxes per image): forward
    under autocast, the training loss, backward and an SGD step, as the training loop does
    them. ``bf16`` None: autocast where the CPU computes bf16 natively (the default)."""
    import torch

    from yolov9.config import LossConfig
    from yolov9.engine.build import criterion
    from yolov9.engine.recompute import apply_recompute
    from yolov9.loss import Targets
    from yolov9.models import build_model
    from yolov9.utils.device import cpu_has_native_bf16
    from yolov9.utils.threads import ThreadGovernor

    model = build_model(name, 80).to(memory_format=torch.channels_last).train()
    apply_recompute(model, recompute)
    loss_fn = criterion(LossConfig(), model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 3, imgsz, imgsz, generator=gen)
    rows = []
    for i in range(batch):
        for _ in range(4):
            xy = torch.rand(2, generator=gen) * (imgsz * 0.75) + imgsz * 0.05
            wh = torch.rand(2, generator=gen) * (imgsz * 0.2) + 8
            rows.append([i, float(torch.randint(0, 80, (1,), generator=gen)), *xy, *(xy + wh)])
    targets = Targets(torch.tensor(rows))
    use_bf16 = cpu_has_native_bf16() if bf16 is None else bf16
    governor = ThreadGovernor()  # as the trainer polls it every batch

    def step() -> None:
        governor.poll()
        with torch.autocast("cpu", torch.bfloat16, enabled=use_bf16):
            out = model(images)
        loss_fn(out, targets).total.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return _time(step, runs, warmup)


# ---------------------------------------------------------------------------- parent side
def _run_child(
    workload: str, env_set: dict[str, str], env_drop: tuple[str, ...], threads: int, **kw: object
) -> float:
    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    env.update(env_set)
    env.pop("OMP_NUM_THREADS", None)
    cmd = [sys.executable, __file__, "--child", workload, "--threads", str(threads)]
    cmd += ["--workdir", str(kw["workdir"])]
    if kw.get("spinning"):
        cmd.append("--spinning")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if out.returncode:
        raise RuntimeError(f"{workload} failed:\n{out.stderr[-3000:]}")
    return float(out.stdout.strip().splitlines()[-1])


class Neighbour:
    """One busy process (a Python loop) for the duration of a ``with`` block."""

    def __enter__(self) -> Neighbour:
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()
        time.sleep(1.0)


def rows_for(workload: str) -> list[tuple[str, dict[str, str], tuple[str, ...], int, bool]]:
    if workload in RUNTIME_SETTINGS:
        return [
            (name, env, () if env else _ADAPT, 2, spin)
            for name, env, spin in RUNTIME_SETTINGS[workload]
        ]
    return [(name, s, d, t, False) for name, (s, d, t) in SETTINGS.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", nargs="*", choices=WORKLOADS, default=list(WORKLOADS))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", choices=WORKLOADS, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--spinning", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(f"{child(args.child, args.threads, args.spinning, args.workdir):.3f}")
        return
    print(f"# command: python {' '.join(sys.argv)}")
    print(
        f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs; medians over {args.rounds} rounds"
    )
    with tempfile.TemporaryDirectory(prefix="bench-busy-") as tmp:
        results: dict[tuple[str, str], dict[str, list[float]]] = {}
        for r in range(args.rounds):
            for workload in args.only:
                for name, env_set, drop, threads, spin in rows_for(workload):
                    cell = results.setdefault((workload, name), {"quiet": [], "busy": []})
                    kw = {"workdir": Path(tmp), "spinning": spin}
                    cell["quiet"].append(_run_child(workload, env_set, drop, threads, **kw))
                    with Neighbour():
                        cell["busy"].append(_run_child(workload, env_set, drop, threads, **kw))
                    print(
                        f"round {r + 1} {workload} {name}: quiet {cell['quiet'][-1]:.1f} ms, "
                        f"busy {cell['busy'][-1]:.1f} ms",
                        flush=True,
                    )
    print("\n| workload | setting | quiet ms | busy ms | busy / quiet | quiet / default quiet |")
    print("|---|---|---:|---:|---:|---:|")
    for workload in args.only:
        base = None
        for name, *_ in rows_for(workload):
            cell = results[(workload, name)]
            quiet, busy = statistics.median(cell["quiet"]), statistics.median(cell["busy"])
            base = base or quiet
            print(
                f"| {workload} | {name} | {quiet:.1f} | {busy:.1f} | {busy / quiet:.2f}x "
                f"| {quiet / base:.2f} |"
            )


if __name__ == "__main__":
    main()
