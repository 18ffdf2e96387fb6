"""Latency of segmentation inference on the CPU: the network, and the mask post-processing.

    python benchmarks/bench_seg.py                                   # gelan-c-seg and gelan-t-seg
    python benchmarks/bench_seg.py --models gelan-c-seg gelan-c --precisions fp32 bf16

For each model and precision: the median of ``Detector.predict`` on one 640x480 image at 640
(letterbox, fused network, decoding, NMS; random weights give no detections at conf 0.25, so
this is the network's cost), and, for segmentation models, the median time to turn N
detections into masks in image pixels (``masks_for_image``: the reference's masks, and
``full_resolution``), with boxes of typical COCO sizes drawn from a fixed seed and the model's
own prototypes. A full prediction costs about the first figure plus the second.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from yolov9 import Detector, build_model
from yolov9.data.images import letterbox
from yolov9.tasks.segment.masks import masks_for_image
from yolov9.utils.perf import tune_cpu_allocator


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def boxes_for(n: int, shape: tuple[int, int], rng: np.random.Generator) -> torch.Tensor:
    """n boxes in network-input pixels, sides 5-45 % of the image (COCO-like mix)."""
    h, w = shape
    wh = rng.uniform(0.05, 0.45, (n, 2)) * (w, h)
    xy = rng.uniform(0, 1, (n, 2)) * ((w, h) - wh)
    return torch.from_numpy(np.concatenate((xy, xy + wh), 1)).float()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", nargs="+", default=["gelan-c-seg", "gelan-t-seg"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--detections", type=int, nargs="+", default=[20, 100])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    print(f"# command: python {' '.join(sys.argv)}")
    print(f"# torch {torch.__version__}, {args.threads} threads")
    rng = np.random.default_rng(0)
    image = (rng.random((480, 640, 3)) * 255).astype(np.uint8)
    for name in args.models:
        torch.manual_seed(0)
        model = build_model(name, 80)
        for precision in args.precisions:
            detector = Detector(
                model,
                [str(i) for i in range(80)],
                imgsz=args.imgsz,
                device="cpu",
                precision=precision,
            )
            net = median_ms(lambda d=detector: d.predict(image), args.runs)
            print(f"{name} {precision}: predict (network, NMS) median {net:.1f} ms")
        if model.task != "segment":
            continue
        detector = Detector(model, [str(i) for i in range(80)], imgsz=args.imgsz, device="cpu")
        boxed, info = letterbox(image, args.imgsz, auto=True)
        x = torch.from_numpy(boxed).permute(2, 0, 1)[None].float() / 255
        protos = detector.backend.infer(x).protos
        assert protos is not None
        shape = (boxed.shape[0], boxed.shape[1])
        for n in args.detections:
            boxes = boxes_for(n, shape, rng)
            coeffs = torch.randn(n, protos.shape[1], generator=torch.Generator().manual_seed(n))
            for full in (False, True):

                def run(b=boxes, c=coeffs, f=full, p=protos[0], s=shape, i=info) -> object:
                    return masks_for_image(p, c, b, s, i, full_resolution=f)

                ms = median_ms(run, args.runs)
                mode = "full-resolution" if full else "reference"
                print(f"{name}: masks for {n} detections ({mode}) median {ms:.1f} ms")


if __name__ == "__main__":
    main()
