"""Command line: ``yolov9 predict|info|convert|demo ...`` (``yolov9 COMMAND --help``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from yolov9.errors import YOLOv9Error

log = logging.getLogger("yolov9")

Handler = Callable[[argparse.Namespace], int]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _imgsz(text: str) -> int:
    value = int(text)
    if value < 32 or value % 32:
        raise argparse.ArgumentTypeError(f"must be a multiple of 32 (>= 32), got {value}")
    return value


def _unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def new_run_dir(base: str | Path, exist_ok: bool = False) -> Path:
    """``base`` if free (or ``exist_ok``), else ``base-2``, ``base-3`` ..."""
    base = Path(base)
    if exist_ok or not base.exists():
        base.mkdir(parents=True, exist_ok=True)
        return base
    n = 2
    while Path(f"{base}-{n}").exists():
        n += 1
    path = Path(f"{base}-{n}")
    path.mkdir(parents=True)
    return path


# ---------------------------------------------------------------------------------- predict
def cmd_predict(args: argparse.Namespace) -> int:
    from yolov9.api import Detector
    from yolov9.engine.video import save_results
    from yolov9.utils.perf import tune_cpu_allocator

    tune_cpu_allocator()
    detector = Detector.from_pretrained(
        args.weights, imgsz=args.imgsz, device=args.device, precision=args.precision
    )
    out = None if args.no_save else new_run_dir(args.out, args.exist_ok)
    skipped: list[str] = []
    start = time.perf_counter()
    results = detector.stream(
        args.source, batch_size=args.batch, skipped=skipped, conf=args.conf, iou=args.iou,
        max_det=args.max_det, classes=args.classes, agnostic=args.agnostic,
    )  # fmt: skip
    records, n_images, n_dets = save_results(results, out)
    elapsed = time.perf_counter() - start
    if n_images == 0:
        raise YOLOv9Error(f"no image of {args.source} could be read ({len(skipped)} skipped)")
    if args.save_json:
        path = Path(args.save_json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=1))
        log.info("wrote %d detections to %s", len(records), path)
    log.info(
        "%d image(s), %d detection(s), %.1f ms/image on %s%s%s",
        n_images, n_dets, 1000 * elapsed / n_images, detector.device,
        f"; annotated output in {out}" if out else "",
        f"; {len(skipped)} unreadable file(s) skipped" if skipped else "",
    )  # fmt: skip
    return 1 if skipped else 0


# ------------------------------------------------------------------------------------- info
def cmd_info(args: argparse.Namespace) -> int:
    import torch

    from yolov9.checkpoints import RELEASES, load_weights
    from yolov9.models import build_model, list_models
    from yolov9.utils.summary import format_summary, model_summary

    name = args.model.lower()
    if Path(args.model).is_file() or (name not in list_models() and name in RELEASES):
        model = load_weights(args.model).model
    else:  # a model name (architecture only, nothing downloaded); unknown names get a hint
        with torch.device("meta"):
            model = build_model(args.model, num_classes=args.classes)
    summary = model_summary(model, args.imgsz)
    print(json.dumps(summary, indent=1) if args.json else format_summary(summary))
    return 0


# ---------------------------------------------------------------------------------- convert
def cmd_convert(args: argparse.Namespace) -> int:
    from yolov9.engine.convert import convert_checkpoint

    report = convert_checkpoint(args.input, args.output, half=args.half)
    log.info(
        "%s -> %s (%s, %s params); main-head output of the written file vs the input: "
        "max |diff| = %g",
        report.source_model, report.output, report.model, f"{report.params:,}", report.max_diff,
    )  # fmt: skip
    return 0


# ------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> int:
    from yolov9.demo import run_demo

    run_demo(Path(args.out), seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from yolov9 import __version__

    parser = argparse.ArgumentParser(
        prog="yolov9", description="YOLOv9 (GELAN + PGI) detection: predict, inspect, convert."
    )
    parser.add_argument("--version", action="version", version=f"yolov9 {__version__}")
    parser.add_argument(
        "-q", "--quiet", action="store_const", const=-1, dest="verbosity", default=0
    )
    parser.add_argument("-v", "--verbose", action="store_const", const=1, dest="verbosity")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("predict", help="detect objects in images, folders, globs or videos")
    p.add_argument("--weights", required=True, help="checkpoint path or release name")
    p.add_argument("--source", required=True, help="image, folder, glob pattern or video")
    p.add_argument("--imgsz", type=_imgsz, default=None, help="inference size (default: ckpt's)")
    p.add_argument("--conf", type=_unit_float, default=0.25, help="confidence threshold")
    p.add_argument("--iou", type=_unit_float, default=0.45, help="NMS IoU threshold")
    p.add_argument("--max-det", type=_positive_int, default=300)
    p.add_argument("--classes", type=int, nargs="+", default=None, help="keep only these ids")
    p.add_argument("--agnostic", action="store_true", help="class-agnostic NMS")
    p.add_argument("--batch", type=_positive_int, default=1)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--precision", choices=("fp32", "fp16", "bf16"), default="fp32",
        help="fp32 (default), fp16 (CUDA) or bf16 autocast (fast on recent CPUs)",
    )  # fmt: skip
    p.add_argument("--out", default="runs/predict", help="folder for annotated output")
    p.add_argument("--exist-ok", action="store_true", help="reuse --out instead of --out-N")
    p.add_argument("--no-save", action="store_true", help="do not write annotated output")
    p.add_argument("--save-json", metavar="FILE", help="write all detections as JSON")
    p.set_defaults(handler=cmd_predict)

    p = sub.add_parser("info", help="parameters per part and GFLOPs of a model or checkpoint")
    p.add_argument("model", help="model name (yolov9-c, gelan-c, ...) or checkpoint")
    p.add_argument("--imgsz", type=_imgsz, default=640)
    p.add_argument("--classes", type=_positive_int, default=80, help="classes (model names)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(handler=cmd_info)

    p = sub.add_parser("convert", help="remove the PGI auxiliary branch (yolov9-x -> gelan-x)")
    p.add_argument("input", help="checkpoint (ours, the authors' or MIT) or release name")
    p.add_argument("output", help="output .pt or .safetensors")
    p.add_argument("--half", action="store_true", help="store fp16 weights")
    p.set_defaults(handler=cmd_convert)

    p = sub.add_parser("demo", help="the embedded end-to-end demo (no downloads)")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from yolov9.utils.logs import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(args.verbosity)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (YOLOv9Error, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
