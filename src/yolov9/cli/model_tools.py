"""``yolov9 info``, ``yolov9 convert`` and ``yolov9 demo``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from yolov9.cli.common import imgsz, log, positive_int
from yolov9.tasks import DEMO_NAMES


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("info", help="parameters per part and GFLOPs of a model or checkpoint")
    p.add_argument("model", help="model name (yolov9-c, gelan-c, ...) or checkpoint")
    p.add_argument("--imgsz", type=imgsz, default=640)
    p.add_argument("--classes", type=positive_int, default=80, help="classes (model names)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(handler=info)

    p = sub.add_parser("convert", help="remove the PGI auxiliary branch (yolov9-x -> gelan-x)")
    p.add_argument("input", help="checkpoint (ours, the authors' or MIT) or release name")
    p.add_argument("output", help="output .pt or .safetensors")
    p.add_argument("--half", action="store_true", help="store fp16 weights")
    p.set_defaults(handler=convert)

    p = sub.add_parser("demo", help="train, evaluate and predict on generated data")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=positive_int, help="default: the task's (yolov9.demo)")
    p.add_argument("--imgsz", type=imgsz, help="default: the task's (yolov9.demo)")
    p.add_argument(
        "--task",
        choices=DEMO_NAMES,
        default=DEMO_NAMES[0],
        help="detect: yolov9-t on shapes; segment: yolov9-t-seg on shapes with polygon masks; "
        "panoptic: yolov9-t-pan on things over stuff; caption: yolov9-t-cap on shapes with "
        "five captions each",
    )
    p.set_defaults(handler=demo)


def info(args: argparse.Namespace) -> int:
    import torch

    from yolov9.checkpoints import RELEASES, load_weights
    from yolov9.models import build_model, list_models
    from yolov9.models.summary import format_summary, model_summary

    name = args.model.lower()
    if Path(args.model).is_file() or (name not in list_models() and name in RELEASES):
        model = load_weights(args.model).model
    else:  # a model name (architecture only, nothing downloaded); unknown names get a hint
        with torch.device("meta"):
            model = build_model(args.model, num_classes=args.classes)
    summary = model_summary(model, args.imgsz)
    print(json.dumps(summary, indent=1) if args.json else format_summary(summary))
    return 0


def convert(args: argparse.Namespace) -> int:
    from yolov9.engine.convert import convert_checkpoint

    report = convert_checkpoint(args.input, args.output, half=args.half)
    log.info(
        "%s -> %s (%s, %s params); main-head output of the written file vs the input: "
        "max |diff| = %g",
        report.source_model,
        report.output,
        report.model,
        f"{report.params:,}",
        report.max_diff,
    )
    return 0


def demo(args: argparse.Namespace) -> int:
    from yolov9.demo import run_demo

    run_demo(Path(args.out), seed=args.seed, epochs=args.epochs, imgsz=args.imgsz, task=args.task)
    return 0
