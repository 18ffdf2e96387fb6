"""Peak memory and speed of training with and without activation recomputation.

    python benchmarks/bench_memory.py                       # yolov9-t at 320 and 640, batch 8
    python benchmarks/bench_memory.py --model yolov9-c --imgsz 320 --batch 4

Each (size, ``model.recompute`` mode) runs in a fresh process with the allocator set up as
``yolov9 train`` sets it: training steps on a fixed synthetic batch (forward, loss, backward,
SGD step; see ``bench_busy.train_step_ms``), then the process's peak RSS. Modes run
alternately over ``--rounds``; medians are reported. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODES = ("none", "highres", "all")


def child(args: argparse.Namespace) -> None:
    import resource

    import torch

    sys.path.insert(0, os.path.dirname(__file__))
    from bench_busy import train_step_ms

    from yolov9.utils.perf import tune_cpu_allocator

    tune_cpu_allocator()  # as yolov9 train does
    torch.set_num_threads(args.threads)
    ms = train_step_ms(
        args.model,
        args.child_imgsz,
        args.batch,
        recompute=args.child_mode,
        bf16=args.precision == "bf16",
        runs=args.runs,
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms": ms, "peak_mib": peak}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="yolov9-t")
    ap.add_argument("--imgsz", type=int, nargs="+", default=[320, 640])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child-imgsz", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--child-mode", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_mode:
        child(args)
        return
    print(f"# command: python {' '.join(sys.argv)}")
    print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs, {args.threads} threads")
    results: dict[tuple[int, str], list[dict[str, float]]] = {}
    for _ in range(args.rounds):
        for imgsz in args.imgsz:
            for mode in args.modes:
                cmd = [sys.executable, __file__, "--child-imgsz", str(imgsz), "--child-mode", mode]
                cmd += ["--model", args.model, "--batch", str(args.batch), "--runs", str(args.runs)]
                cmd += ["--precision", args.precision, "--threads", str(args.threads)]
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
                if out.returncode:
                    raise RuntimeError(out.stderr[-3000:])
                figures = json.loads(out.stdout.strip().splitlines()[-1])
                results.setdefault((imgsz, mode), []).append(figures)
                print(f"{args.model} {imgsz} {mode}: {figures}", flush=True)
    print(f"\n{args.model}, batch {args.batch}, {args.precision}")
    print(
        "| imgsz | recompute | s/iter | images/s | peak RSS MiB | time vs none | memory vs none |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for imgsz in args.imgsz:
        base_ms = base_mem = 0.0
        for mode in args.modes:
            runs = results[(imgsz, mode)]
            ms = statistics.median(r["ms"] for r in runs)
            mem = statistics.median(r["peak_mib"] for r in runs)
            if mode == args.modes[0]:
                base_ms, base_mem = ms, mem
            print(
                f"| {imgsz} | {mode} | {ms / 1e3:.2f} | {args.batch / ms * 1e3:.2f} | {mem:.0f} "
                f"| {ms / base_ms:.2f}x | {mem / base_mem - 1:+.0%} |"
            )


if __name__ == "__main__":
    main()
