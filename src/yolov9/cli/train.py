"""``yolov9 train``: a recipe chosen for the run (``--recipe auto``); every value overridable.

``--resume LAST_PT`` continues a run: its saved config, with every flag and ``--set`` given
now applied on top (``--epochs`` to extend it, ``--patience``, ``--workers`` ...).
"""

from __future__ import annotations

import argparse
from typing import Any

from yolov9.cli.common import add_threads_arg, imgsz, log, positive_int
from yolov9.config import CHOICES


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train or fine-tune a model (PGI for yolov9-*)")
    p.add_argument(
        "--model",
        help="yolov9-t ... yolov9-e (with PGI) or gelan-t ... gelan-e; with -seg, -pan or -cap "
        "(yolov9-t-seg, yolov9-t-pan, yolov9-t-cap) for instance segmentation, panoptic "
        "segmentation or captions",
    )
    p.add_argument("--data", help="dataset YAML, COCO JSON or folder with train and val splits")
    p.add_argument("--weights", help="start from this checkpoint (any supported format)")
    p.add_argument(
        "--resume",
        metavar="LAST_PT",
        help="continue a run from its last.pt; flags given with it change its saved config",
    )
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch", type=positive_int, help="total batch over all processes")
    p.add_argument("--imgsz", type=imgsz)
    p.add_argument(
        "--aux", choices=CHOICES["model.aux"], help="auxiliary branch of yolov9-* (default pgi)"
    )
    p.add_argument(
        "--recompute",
        choices=CHOICES["model.recompute"],
        help="trade compute for memory: recompute activations in the backward pass "
        "(highres: the high-resolution levels; all: backbone, necks and PGI branch)",
    )
    p.add_argument("--optimizer", choices=CHOICES["optim.optimizer"])
    p.add_argument("--lr0", type=float)
    p.add_argument("--schedule", choices=CHOICES["optim.schedule"])
    p.add_argument(
        "--recipe",
        choices=CHOICES["recipe"],
        help="auto (default): the paper's recipe for long schedules, a short-schedule "
        "one otherwise (printed at start); paper: exactly the paper's",
    )
    p.add_argument("--close-mosaic", type=int)
    p.add_argument(
        "--patience", type=int, help="stop after N epochs without a better AP (0: never)"
    )
    p.add_argument(
        "--precision",
        choices=CHOICES["precision"],
        help="auto: fp16 mixed precision on CUDA, bf16 on CPUs with native bf16, else fp32",
    )
    p.add_argument("--device")
    add_threads_arg(p)
    p.add_argument("--workers", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--sync-bn", action="store_const", const=True, default=None)
    p.add_argument("--out", help="runs folder (default runs/train)")
    p.add_argument("--exist-ok", action="store_const", const=True, default=None)
    p.add_argument("--config", metavar="YAML", help="a training config (sections as in --set)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any config value, e.g. --set augment.mixup=0 --set optim.lrf=0.1",
    )
    p.set_defaults(handler=run)


# flags that name config values (see yolov9.config.FLAG_KEYS for the keys they set)
VALUE_FLAGS = (
    "model",
    "data",
    "weights",
    "epochs",
    "batch",
    "imgsz",
    "aux",
    "recompute",
    "optimizer",
    "lr0",
    "schedule",
    "close_mosaic",
    "patience",
    "precision",
    "device",
    "workers",
    "seed",
    "sync_bn",
    "recipe",
    "out",
    "exist_ok",
)


def run(args: argparse.Namespace) -> int:
    from yolov9.config import resolve
    from yolov9.engine.training import resume, train
    from yolov9.errors import ConfigError
    from yolov9.utils.threads import set_torch_threads

    set_torch_threads(args.threads)
    values = {name: getattr(args, name) for name in VALUE_FLAGS}
    if args.resume:
        if args.config:
            raise ConfigError("--config starts a new run; with --resume give flags or --set")
        given = {k: v for k, v in values.items() if v is not None}
        result = resume(args.resume, given, overrides=args.overrides)
    else:
        if not (args.data or args.config):
            raise ConfigError("give --data (a dataset) or --config (a file that names one)")
        result = train(resolve(args.config, args.overrides, **values))
    m = result.best_metrics
    if result.fitness in m:  # without a validation split there is no score
        keys = ("PQ", "mIoU", "AP", "AP50", "mask/AP", "mask/AP50", "CIDEr-D", "BLEU-4")
        shown = [(k, m[k]) for k in keys if k in m]
        log.info(
            "best: %s (best by %s; epoch %d of %d run)",
            ", ".join(f"{k} {v:.4f}" for k, v in shown),
            result.fitness,
            int(m.get("epoch", 0)) + 1,
            len(result.history),
        )
    log.info(
        "weights: %s%s",
        result.best or result.last,
        f"; deployable (no aux branch): {result.best_converted}" if result.best_converted else "",
    )
    return 0
