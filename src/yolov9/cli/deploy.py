"""``yolov9 export`` and ``yolov9 benchmark``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from yolov9.cli.common import (
    imgsz,
    log,
    non_negative_float,
    positive_int,
    unit_float,
    write_json,
)


def add_parsers(sub: Any) -> None:
    from yolov9.deploy.formats import BENCHMARK_BACKENDS, FORMATS

    p = sub.add_parser("export", help="export for deployment (aux branch removed, fused)")
    p.add_argument("--weights", required=True, help="checkpoint path or release name")
    p.add_argument("--format", choices=FORMATS, default="onnx")
    p.add_argument("--out", help="output path without suffix (default: next to the weights)")
    p.add_argument("--imgsz", type=imgsz, default=640)
    p.add_argument("--dynamic", action="store_true", help="dynamic batch and image size")
    p.add_argument(
        "--half",
        action="store_true",
        help="fp16 weights (coreml: fp16 compute, the Neural Engine's precision)",
    )
    p.add_argument(
        "--nms",
        action="store_true",
        help="NMS inside the graph (onnx/openvino: NonMaxSuppression; coreml: a pipeline for "
        "Apple's Vision framework)",
    )
    p.add_argument("--max-det", type=positive_int, default=100)
    p.add_argument("--conf", type=unit_float, default=0.25)
    p.add_argument("--iou", type=unit_float, default=0.45)
    p.add_argument("--multi-label", action="store_true")
    p.add_argument("--no-simplify", action="store_true")
    p.add_argument(
        "--int8",
        action="store_true",
        help="INT8 calibrated on --data (openvino: NNCF; tflite: static int8)",
    )
    p.add_argument("--data", help="dataset for INT8 calibration and its AP check")
    p.add_argument("--calibration-images", type=positive_int, default=300)
    p.add_argument(
        "--int8-preset",
        choices=("mixed", "performance"),
        default="performance",
        help="performance: symmetric activations, fastest (default); mixed: asymmetric "
        "activations, slower, closer to fp32 AP",
    )
    p.add_argument(
        "--int8-max-drop",
        type=unit_float,
        metavar="AP",
        help="largest AP loss allowed (e.g. 0.005 = half a point): layers that cost the most "
        "AP go back to float until INT8 is within it (slower: evaluates the validation split "
        "many times)",
    )
    p.set_defaults(handler=run_export)

    p = sub.add_parser("benchmark", help="latency and throughput of every available backend")
    p.add_argument("--weights", required=True)
    p.add_argument(
        "--imgsz",
        type=imgsz,
        nargs="+",
        help="input sizes, a table each (default: 640 and the model's own size)",
    )
    p.add_argument("--threads", type=positive_int, default=2)
    p.add_argument("--runs", type=positive_int, default=30)
    p.add_argument(
        "--backends", nargs="+", choices=BENCHMARK_BACKENDS, default=list(BENCHMARK_BACKENDS)
    )
    p.add_argument("--data", help="calibration data for the INT8 rows (default: generated)")
    p.add_argument(
        "--gap-ms",
        type=non_negative_float,
        default=50.0,
        help="idle time before each run, so the previous runtime's spinning threads do not "
        "slow the next row (0 shows the effect)",
    )
    p.add_argument("--json", metavar="FILE")
    p.set_defaults(handler=run_benchmark)


def run_export(args: argparse.Namespace) -> int:
    from yolov9.deploy.export import ExportOptions, export

    opts = ExportOptions(
        format=args.format,
        imgsz=args.imgsz,
        dynamic=args.dynamic,
        half=args.half,
        nms=args.nms,
        max_det=args.max_det,
        conf=args.conf,
        iou=args.iou,
        multi_label=args.multi_label,
        simplify=not args.no_simplify,
        int8=args.int8,
        data=args.data,
        calibration_images=args.calibration_images,
        int8_preset=args.int8_preset,
        int8_max_drop=args.int8_max_drop,
    )
    report = export(args.weights, args.out, opts)
    diff = ", ".join(f"{k} {v:.3g}" for k, v in report.max_diff.items())
    log.info(
        "exported %s; max |difference| from PyTorch on a test image: %s",
        report.path,
        diff or "not checked",
    )
    for note in report.notes:
        log.info(note)
    if report.metrics:
        print(json.dumps(report.metrics, indent=1))
    return 0


def run_benchmark(args: argparse.Namespace) -> int:
    import torch

    from yolov9.checkpoints import load_weights
    from yolov9.deploy.benchmark import format_rows, run_benchmark

    sizes = args.imgsz or [640, load_weights(args.weights).imgsz]
    records = []
    for size in dict.fromkeys(sizes):  # in order, once each
        rows = run_benchmark(
            args.weights,
            imgsz=size,
            threads=args.threads,
            runs=args.runs,
            backends=tuple(args.backends),
            data=args.data,
            gap_s=args.gap_ms / 1000,
        )
        print(
            f"# {args.weights}, batch 1, {size}x{size}, {args.threads} threads, "
            f"torch {torch.__version__}; medians over {args.runs} interleaved runs, "
            f"{args.gap_ms:g} ms idle before each"
        )
        print(format_rows(rows))
        records += [r.__dict__ | {"imgsz": size, "images_per_s": r.throughput} for r in rows]
    if args.json:
        write_json(args.json, records)
    return 0
