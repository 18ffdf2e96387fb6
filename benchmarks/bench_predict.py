"""Latency of ``Detector.predict`` (letterbox, fused model, NMS, boxes back in image pixels).

    python benchmarks/bench_predict.py                      # gelan-t, 640, fp32, 2 threads
    python benchmarks/bench_predict.py --precision bf16 --model gelan-c

Uses only the public API, so the same file can time another checkout side by side:
``PYTHONPATH=<other tree>/src python benchmarks/bench_predict.py``. Random weights (latency
does not depend on them), one 640x480 image, median of ``--runs`` calls after 5 warm-up calls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from yolov9 import Detector, build_model
from yolov9.utils.perf import tune_cpu_allocator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="gelan-t")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    torch.manual_seed(0)
    names = [str(i) for i in range(80)]
    detector = Detector(
        build_model(args.model, 80),
        names,
        imgsz=args.imgsz,
        device="cpu",
        precision=args.precision,
    )
    image = (np.random.default_rng(0).random((480, 640, 3)) * 255).astype(np.uint8)
    for _ in range(5):
        detector.predict(image)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        detector.predict(image)
        times.append(time.perf_counter() - start)
    print(f"# command: python {' '.join(sys.argv)}")
    median_ms = 1e3 * statistics.median(times)
    print(f"{args.model} {args.imgsz} {args.precision}: median {median_ms:.1f} ms")


if __name__ == "__main__":
    main()
