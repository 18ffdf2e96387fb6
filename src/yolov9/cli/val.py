"""``yolov9 val``: COCO-standard evaluation of a checkpoint or of a predictions file."""

from __future__ import annotations

import argparse
from typing import Any

from yolov9.cli.common import (
    add_caption_args,
    add_device_args,
    add_tile_args,
    apply_caption_args,
    caption_flags,
    imgsz,
    log,
    positive_int,
    tile_values,
    unit_float,
    write_json,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "val", help="COCO mAP of a checkpoint (or of a predictions file) on a dataset split"
    )
    p.add_argument("--weights", help="checkpoint path or release name, or an exported model")
    p.add_argument("--data", required=True, help="dataset YAML, COCO JSON file or folder")
    p.add_argument("--split", default="val", help="train, val or test (default val)")
    p.add_argument("--predictions", metavar="FILE", help="score a COCO results JSON; no model")
    p.add_argument("--imgsz", type=imgsz, default=None, help="default: the checkpoint's (640)")
    p.add_argument("--batch", type=positive_int, default=32)
    p.add_argument("--conf", type=unit_float, default=0.001)
    p.add_argument(
        "--iou", type=unit_float, default=None, help="NMS IoU (default 0.7; panoptic data 0.6)"
    )
    p.add_argument("--max-det", type=positive_int, default=300)
    p.add_argument("--single-label", action="store_true", help="one class per box (default: multi)")
    p.add_argument(
        "--no-rect", action="store_true", help="square letterbox instead of rect batches"
    )
    p.add_argument("--workers", type=int, default=-1, help="data-loading processes (-1: auto)")
    add_device_args(p)
    add_tile_args(p)
    add_caption_args(p)
    p.add_argument("--out", default="runs/val", help="run folder for plots and reports")
    p.add_argument("--exist-ok", action="store_true")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--json", metavar="FILE", help="write all metrics as JSON")
    p.add_argument("--save-predictions", metavar="FILE", help="write the COCO results JSON")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from yolov9.engine.validation import ValOptions, validate

    opts = ValOptions(
        split=args.split,
        imgsz=args.imgsz,
        batch=args.batch,
        conf=args.conf,
        iou=args.iou,
        max_det=args.max_det,
        multi_label=not args.single_label,
        rect=not args.no_rect,
        workers=args.workers,
        device=args.device,
        precision=args.precision,
        threads=args.threads,
        out=args.out,
        exist_ok=args.exist_ok,
        plots=not args.no_plots,
        **tile_values(args),
    )
    model: Any = args.weights
    if args.weights and caption_flags(args):
        from yolov9.inference.loader import load_backend
        from yolov9.tasks.registry import get_task

        model = load_backend(
            args.weights,
            device=args.device,
            precision=args.precision,
            imgsz=args.imgsz,
            threads=args.threads,
        )
        apply_caption_args(args, model, get_task(model.task), args.weights)
    report = validate(args.data, model, predictions=args.predictions, opts=opts)
    if report.captions is not None:
        from yolov9.engine.caption_val import caption_summary

        if report.panoptic is not None:  # an all-task model: every figure
            print(report.panoptic.summary())
        print(caption_summary(report.captions, len(report.captions.cider_per_image)))
        return _write(args, report, predictions=True)
    if report.panoptic is not None:
        print(report.panoptic.summary())
        if args.save_predictions:
            log.warning("--save-predictions: use yolov9 predict --save-panoptic for panoptic files")
        return _write(args, report, predictions=False)
    assert report.metrics is not None
    if report.result is not None:
        print(report.result.summary())
    else:
        print(f"{report.report['images']} images, scored {args.predictions}")
        masks_only = report.mask_metrics is report.metrics
        print(("masks:\n" if masks_only else "") + report.metrics.table())
        if report.mask_metrics is not None and not masks_only:
            print("masks:\n" + report.mask_metrics.table())
    per_class = sorted(report.metrics.per_class.items(), key=lambda kv: -(kv[1]["AP"] or 0))
    for name, d in per_class[:10]:
        if d["AP"] is not None:
            log.info(
                "  %-20s AP %.4f  AP50 %.4f  (%d objects)", name, d["AP"], d["AP50"], d["num_gt"]
            )
    return _write(args, report, predictions=True)


def _write(args: argparse.Namespace, report: Any, *, predictions: bool) -> int:
    """``--save-predictions`` (when the report's kind has COCO results), ``--json``, and
    where the run folder is."""
    if predictions and args.save_predictions:
        write_json(args.save_predictions, report.predictions)
    if args.json:
        write_json(args.json, report.report)
    log.info("results in %s", report.run_dir)
    return 0
