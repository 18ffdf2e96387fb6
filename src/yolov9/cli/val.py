"""``yolov9 val``: COCO-standard evaluation of a checkpoint or of a predictions file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from yolov9.cli.common import (
    add_device_args,
    imgsz,
    log,
    new_run_dir,
    positive_int,
    unit_float,
    write_json,
)
from yolov9.errors import DataError


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "val", help="COCO mAP of a checkpoint (or of a predictions file) on a dataset split"
    )
    p.add_argument("--weights", help="checkpoint path or release name")
    p.add_argument("--data", required=True, help="dataset YAML, COCO JSON file or folder")
    p.add_argument("--split", default="val", help="train, val or test (default val)")
    p.add_argument("--predictions", metavar="FILE", help="score a COCO results JSON; no model")
    p.add_argument("--imgsz", type=imgsz, default=None, help="default: the checkpoint's (640)")
    p.add_argument("--batch", type=positive_int, default=32)
    p.add_argument("--conf", type=unit_float, default=0.001)
    p.add_argument("--iou", type=unit_float, default=0.7)
    p.add_argument("--max-det", type=positive_int, default=300)
    p.add_argument("--single-label", action="store_true", help="one class per box (default: multi)")
    p.add_argument(
        "--no-rect", action="store_true", help="square letterbox instead of rect batches"
    )
    p.add_argument("--workers", type=int, default=-1, help="data-loading processes (-1: auto)")
    add_device_args(p)
    p.add_argument("--out", default="runs/val", help="run folder for plots and reports")
    p.add_argument("--exist-ok", action="store_true")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--json", metavar="FILE", help="write all metrics as JSON")
    p.add_argument("--save-predictions", metavar="FILE", help="write the COCO results JSON")
    p.set_defaults(handler=run)


def _load_predictions(path: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of COCO detections")
    return data


def run(args: argparse.Namespace) -> int:
    from yolov9.data.dataset import load_dataset

    if not args.weights and not args.predictions:
        raise DataError("give --weights (a model to run) or --predictions (a results file)")
    dataset = load_dataset(args.data, args.split)
    out = new_run_dir(args.out, args.exist_ok)
    dataset.report.log()
    dataset.report.write(out / "label_issues.txt")
    if args.predictions:
        from yolov9.engine.evaluator import save_plots, score_predictions

        predictions = _load_predictions(args.predictions)
        metrics = score_predictions(dataset, predictions)
        summary: dict[str, Any] = {"images": len(dataset), "predictions": args.predictions}
        print(f"{len(dataset)} images, scored {args.predictions}\n{metrics.table()}")
        if not args.no_plots:
            save_plots(dataset, predictions, metrics, out)
    else:
        from yolov9.deploy.backends import load_backend
        from yolov9.engine.evaluator import Evaluator
        from yolov9.utils.perf import tune_cpu_allocator

        tune_cpu_allocator()
        backend = load_backend(
            args.weights, device=args.device, precision=args.precision, imgsz=args.imgsz
        )
        if len(backend.names) != len(dataset.names):
            raise DataError(
                f"the model has {len(backend.names)} classes, {args.data} has {len(dataset.names)}"
            )
        if backend.has_nms:
            log.warning(
                "this export has NMS with conf %s built in: metrics are not comparable "
                "to the COCO protocol (conf 0.001); export without --nms for val",
                backend.nms_settings.get("conf"),
            )
        evaluator = Evaluator(
            dataset,
            imgsz=args.imgsz or backend.imgsz,
            batch_size=args.batch,
            conf=args.conf,
            iou=args.iou,
            max_det=args.max_det,
            multi_label=not args.single_label,
            rect=not args.no_rect,
            workers=args.workers,
            device=args.device,
            precision=args.precision,
        )
        result = evaluator.run(backend, out_dir=None if args.no_plots else out)
        metrics = result.metrics
        summary = {
            "images": result.images,
            "speed_ms": result.speed_ms,
            "failed": result.failed,
            "weights": str(args.weights),
            "imgsz": args.imgsz or backend.imgsz,
            "backend": backend.describe(),
        }
        print(result.summary())
        if args.save_predictions:
            write_json(args.save_predictions, result.predictions)
    per_class = sorted(metrics.per_class.items(), key=lambda kv: -(kv[1]["AP"] or 0))
    for name, d in per_class[:10] if len(per_class) > 10 else per_class:
        if d["AP"] is not None:
            log.info(
                "  %-20s AP %.4f  AP50 %.4f  (%d boxes)", name, d["AP"], d["AP50"], d["num_gt"]
            )
    report = {**metrics.as_dict(), **summary, "data": str(args.data), "split": args.split}
    write_json(out / "metrics.json", report)
    if args.json:
        write_json(args.json, report)
    log.info("results in %s", out)
    return 0
