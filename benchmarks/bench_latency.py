"""Batch-1 inference latency of GELAN models against this machine's fp32 matmul ceiling.

    python benchmarks/bench_latency.py                       # gelan-t, gelan-s, gelan-c at 640
    python benchmarks/bench_latency.py --bf16 --compile      # add bf16 autocast and inductor rows

Everything is measured in one process, interleaved round by round (one matmul, then one
forward of every model/variant), so machine noise hits all rows alike; medians are quoted.

Rows:
* ``ours``   - the path ``yolov9 predict`` uses: aux dropped, BN/RepConvN fused, channels-last,
  in-place activations, inference mode, glibc allocator tuned (fp32).
* ``plain``  - the unfused model in NCHW under ``torch.no_grad`` (what a plain eager loop does).
* ``bf16``   - ours under bfloat16 autocast (``--bf16``).
* ``compiled`` - ours through ``torch.compile`` with frozen weights (``--compile``; excluded
  from the default because compiling takes about a minute per model).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch

from yolov9.inference import inference_graph
from yolov9.models import build_model
from yolov9.utils.flops import count_gflops
from yolov9.utils.perf import tune_cpu_allocator


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["gelan-t", "gelan-s", "gelan-c"])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--matmul", type=int, default=2048, help="square matmul size for the ceiling")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    tuned = tune_cpu_allocator()
    device = torch.device("cpu")
    x = torch.rand(1, 3, args.imgsz, args.imgsz)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    n = args.matmul
    a, b = torch.randn(n, n), torch.randn(n, n)

    runs: dict[str, Callable[[], object]] = {}
    gflops: dict[str, float] = {}
    for name in args.models:
        model = build_model(name).eval()
        gflops[name] = count_gflops(model, args.imgsz)
        ours = inference_graph(model, device)
        runs[f"{name} ours"] = lambda m=ours: m(x_cl)
        plain = copy.deepcopy(model)
        runs[f"{name} plain"] = lambda m=plain: m(x)
        if args.bf16:

            def bf16(m: torch.nn.Module = ours) -> object:
                with torch.autocast("cpu", torch.bfloat16):
                    return m(x_cl)

            runs[f"{name} bf16"] = bf16
        if args.compile:
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True
            compiled = torch.compile(ours)
            start = time.perf_counter()
            with torch.no_grad():
                compiled(x_cl)
            print(f"compiled {name} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
            runs[f"{name} compiled"] = lambda m=compiled: m(x_cl)

    times: dict[str, list[float]] = {k: [] for k in ["matmul", *runs]}
    with torch.inference_mode():
        for r in range(args.warmup + args.rounds):
            t = time.perf_counter()
            a @ b
            dt = time.perf_counter() - t
            if r >= args.warmup:
                times["matmul"].append(dt)
            for key, fn in runs.items():
                t = time.perf_counter()
                fn()
                dt = time.perf_counter() - t
                if r >= args.warmup:
                    times[key].append(dt)

    matmul = 2 * n**3 / statistics.median(times["matmul"]) / 1e9
    command = " ".join(["python", *sys.argv])
    print(
        f"# {cpu_name()}, {args.threads} threads, torch {torch.__version__}, "
        f"allocator tuned: {tuned}"
    )
    print(f"# command: {command}")
    print(f"fp32 matmul {n}x{n}: {matmul:.0f} GFLOP/s (median of {args.rounds})\n")
    print("| model | variant | GFLOPs | median ms | min ms | max ms | GFLOP/s | of matmul |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for key, ts in times.items():
        if key == "matmul":
            continue
        name, variant = key.split(" ")
        med = statistics.median(ts)
        rate = gflops[name] / med
        rows.append(
            {
                "model": name,
                "variant": variant,
                "gflops": gflops[name],
                "median_ms": med * 1e3,
                "min_ms": min(ts) * 1e3,
                "max_ms": max(ts) * 1e3,
                "gflop_per_s": rate,
                "fraction_of_matmul": rate / matmul,
            }
        )
        print(
            f"| {name} | {variant} | {gflops[name]:.2f} | {med * 1e3:.1f} | {min(ts) * 1e3:.1f} "
            f"| {max(ts) * 1e3:.1f} | {rate:.0f} | {rate / matmul:.2f} |"
        )
    for name in args.models:
        ratio = statistics.median(times[f"{name} plain"]) / statistics.median(times[f"{name} ours"])
        print(f"\n{name}: ours is {ratio:.2f}x faster than plain eager (same run, medians)", end="")
    print()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "command": command,
                    "cpu": cpu_name(),
                    "threads": args.threads,
                    "matmul_gflop_per_s": matmul,
                    "rows": rows,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
