"""Training throughput of the real trainer (data loading included) and peak memory.

    python benchmarks/bench_train.py                        # yolov9-t, 320 px, batch 8, 2 threads
    python benchmarks/bench_train.py --data ../shared/data/coco128_train2017/data.yaml

Each variant runs ``yolov9 train`` code for 2 epochs in its own process (so each reports its
own peak RSS); the figure is the second epoch's images per second. Variants: fp32 and bf16
autocast; the auxiliary branch on (yolov9-t, PGI) and off (gelan-t).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def worker(args: argparse.Namespace) -> None:
    import torch

    from yolov9.config import resolve
    from yolov9.engine.training import train
    from yolov9.utils.perf import tune_cpu_allocator

    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    cfg = resolve(
        None,
        [],
        **{
            "model.name": args.model,
            "data.data": args.data,
            "data.imgsz": args.imgsz,
            "data.batch": args.batch,
            "data.workers": args.workers,
            "epochs": 2,
            "precision": args.precision,
            "recipe": args.recipe,
            "out": args.out,
            "exist_ok": True,
            "val_every": 100,
        },
    )
    result = train(cfg)
    rate = result.history[-1]["images_per_s"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"images_per_s": rate, "peak_rss_mib": peak}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", help="dataset (default: 128 generated 640x480 images)")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=-1, help="-1: auto (0 on <= 2 cores)")
    ap.add_argument(
        "--recipe",
        default="paper",
        help="paper (default: what the reference runs, 8 batches accumulated) or auto",
    )
    ap.add_argument(
        "--variants",
        nargs="+",
        default=["yolov9-t:fp32", "yolov9-t:bf16", "gelan-t:fp32", "gelan-t:bf16"],
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", default="yolov9-t", help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    if not args.data:
        from yolov9.data.synthetic import write_dataset

        args.data = str(
            write_dataset(tmp / "data", splits={"train": 128, "val": 8}, size=(480, 640))["yolo"]
        )
    print(f"# command: python {' '.join(sys.argv)}")
    print(
        f"# data {args.data}, {args.imgsz} px, batch {args.batch}, {args.threads} threads, "
        f"{args.workers} loader workers, recipe {args.recipe}\n"
    )
    print("| model | precision | images/s | peak RSS MiB |\n|---|---|---:|---:|")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "YOLOV9_CACHE_DIR": str(tmp / "cache"),
    }
    for variant in args.variants:
        model, precision = variant.split(":")
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--model",
            model,
            "--precision",
            precision,
            "--data",
            args.data,
            "--imgsz",
            str(args.imgsz),
            "--batch",
            str(args.batch),
            "--threads",
            str(args.threads),
            "--workers",
            str(args.workers),
            "--recipe",
            args.recipe,
            "--out",
            str(tmp / f"run-{model}-{precision}"),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(f"| {model} | {precision} | failed: {out.stderr.strip().splitlines()[-1]} | |")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"| {model} | {precision} | {r['images_per_s']:.1f} | {r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
