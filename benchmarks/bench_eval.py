"""Evaluation time and memory at COCO val2017 scale, on generated data (no model involved).

    python benchmarks/bench_eval.py                 # 5000 images, ~36k boxes, 300 dets/image
    python benchmarks/bench_eval.py --no-pycocotools
    python benchmarks/bench_eval.py --no-pycocotools --dict-path   # + the one-pass dict path

Generates COCO-like ground truth (80 categories, 0-20 boxes per image, ~7.3 on average) and
~300 detections per image (jittered ground truth plus clutter, as a model at conf 0.001 gives),
then times our path (records -> COCO GT dict -> result arrays, as the evaluator keeps them ->
faster-coco-eval, a few categories per pass) and prints the process's peak RSS right after it,
before anything else is built or pycocotools imported: that figure is our path's alone (with
the imports and the generated data, which any run holds).

``--dict-path`` then scores the same detections the way it was done before issue 13 (one
COCO result dict per detection, all in one faster-coco-eval pass) and checks that the 12
numbers and the whole precision table are bit-identical; pycocotools' COCOeval on the same
data (same process, last) is the reference for the numbers and the time.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import resource
import sys
import time

import numpy as np

from yolov9.data.coco80 import COCO80_NAMES, COCO80_TO_91
from yolov9.data.dataset import DetectionDataset
from yolov9.data.labels import ImageLabels, LabelReport
from yolov9.metrics.coco import CocoResults, coco_ground_truth, evaluate_coco, to_coco_arrays

STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def generate(n_images: int, dets_per_image: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    records, detections = [], []
    for i in range(n_images):
        w, h = (640, 480) if rng.random() < 0.7 else (480, 640)
        n = int(rng.poisson(7.3))
        xy = rng.uniform(0, [w - 20, h - 20], (n, 2))
        wh = rng.uniform(0.5, 1.5, (n, 2)) * rng.lognormal(3.5, 0.9, (n, 1))
        boxes = np.concatenate([xy, np.minimum(xy + wh, [w, h])], 1).astype(np.float32)
        classes = rng.integers(0, 80, n)
        records.append(ImageLabels(f"{i}.jpg", w, h, boxes, classes, i + 1))
        k = dets_per_image
        src = rng.integers(0, max(n, 1), k)
        jitter = rng.normal(0, 0.1, (k, 4)) * 50
        pb = (boxes[src] if n else np.zeros((k, 4))) + jitter
        clutter = rng.random(k) < 0.7
        pb[clutter, :2] = rng.uniform(0, [w, h], (clutter.sum(), 2))
        pb[clutter, 2:] = pb[clutter, :2] + rng.uniform(5, 200, (clutter.sum(), 2))
        pb = np.clip(pb, 0, [w, h, w, h]).astype(np.float32)
        pb[:, 2:] = np.maximum(pb[:, 2:], pb[:, :2] + 1)
        pc = np.where(
            clutter | (rng.random(k) < 0.2), rng.integers(0, 80, k), classes[src] if n else 0
        )
        detections.append((pb, rng.random(k).astype(np.float32), pc))
    ds = DetectionDataset(records, COCO80_NAMES, COCO80_TO_91, LabelReport(), "coco", "val")
    return ds, detections


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--dets", type=int, default=300, help="detections per image")
    ap.add_argument("--no-pycocotools", action="store_true")
    ap.add_argument(
        "--dict-path",
        action="store_true",
        help="also score dict entries in one pass (the path before issue 13) and compare",
    )
    args = ap.parse_args()

    t = time.perf_counter()
    ds, detections = generate(args.images, args.dets)
    n_boxes = sum(len(r.classes) for r in ds.records)
    print(f"# command: python {' '.join(sys.argv)}")
    print(
        f"generated {args.images} images, {n_boxes} boxes, {args.images * args.dets} detections "
        f"in {time.perf_counter() - t:.1f} s; peak RSS so far {peak_rss_mib():.0f} MiB\n"
    )

    timings = {}
    t = time.perf_counter()
    gt = coco_ground_truth(ds)
    timings["records -> COCO ground-truth dict"] = time.perf_counter() - t
    t = time.perf_counter()
    arrays = CocoResults.concat(
        [
            to_coco_arrays(record.image_id, b, s, c, ds.category_ids)
            for record, (b, s, c) in zip(ds.records, detections, strict=True)
        ]
    )
    timings["detections -> COCO result arrays"] = time.perf_counter() - t
    t = time.perf_counter()
    ours = evaluate_coco(gt, arrays)
    timings["faster-coco-eval, in category passes (ours)"] = time.perf_counter() - t
    ours_rss = peak_rss_mib()

    entries: list | None = None
    if args.dict_path:
        t = time.perf_counter()
        entries = arrays.entries()
        timings["detections -> COCO result dicts (before)"] = time.perf_counter() - t
        t = time.perf_counter()
        one_pass = evaluate_coco(gt, entries, pass_detections=len(entries))
        timings["faster-coco-eval, one pass on dicts (before)"] = time.perf_counter() - t
        same = all(getattr(ours, k) == getattr(one_pass, k) for k in STATS)
        same_table = np.array_equal(ours.precision, one_pass.precision)
        dict_rss = peak_rss_mib()

    if not args.no_pycocotools:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        entries = entries if entries is not None else arrays.entries()
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = COCO()
            coco_gt.dataset = copy.deepcopy(gt)
            coco_gt.createIndex()
            ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(entries)), "bbox")
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        timings["pycocotools COCOeval"] = time.perf_counter() - t
        diff = max(abs(getattr(ours, k) - v) for k, v in zip(STATS, ev.stats, strict=True))

    print("| step | seconds |\n|---|---:|")
    for k, v in timings.items():
        print(f"| {k} | {v:.1f} |")
    total = sum(v for k, v in list(timings.items())[:3])
    print(f"| **ours, total** | **{total:.1f}** |")
    print(f"\nAP {ours.AP:.4f} AP50 {ours.AP50:.4f} AR100 {ours.AR100:.4f}")
    print(f"peak RSS after our path (nothing else built yet): {ours_rss:.0f} MiB")
    if args.dict_path:
        print(
            f"one pass on dicts: 12 stats {'identical' if same else 'DIFFERENT'}, precision "
            f"table {'identical' if same_table else 'DIFFERENT'}; peak RSS after it "
            f"{dict_rss:.0f} MiB"
        )
    if not args.no_pycocotools:
        print(
            f"max |ours - pycocotools| over the 12 stats: {diff:.2e}; "
            f"pycocotools / ours (COCOeval only): "
            f"{timings['pycocotools COCOeval'] / timings[list(timings)[2]]:.1f}x; "
            f"peak RSS of the whole process {peak_rss_mib():.0f} MiB"
        )


if __name__ == "__main__":
    main()
