"""``yolov9 train``: the paper's recipe by default; every choice overridable."""

from __future__ import annotations

import argparse
from typing import Any

from yolov9.cli.common import imgsz, log, positive_int


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train or fine-tune a model (PGI for yolov9-*)")
    p.add_argument("--model", help="yolov9-t ... yolov9-e (with PGI) or gelan-t ... gelan-e")
    p.add_argument("--data", help="dataset YAML, COCO JSON or folder with train and val splits")
    p.add_argument("--weights", help="start from this checkpoint (any supported format)")
    p.add_argument("--resume", metavar="LAST_PT", help="continue a run from its last.pt")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--batch", type=positive_int, help="total batch over all processes")
    p.add_argument("--imgsz", type=imgsz)
    p.add_argument(
        "--aux",
        choices=("pgi", "deep-supervision", "none"),
        help="auxiliary branch of yolov9-* models (default pgi)",
    )
    p.add_argument("--optimizer", choices=("sgd", "adamw"))
    p.add_argument("--lr0", type=float)
    p.add_argument("--schedule", choices=("linear", "cosine", "flat-cosine", "fixed"))
    p.add_argument(
        "--recipe",
        choices=("auto", "paper", "short"),
        help="auto (default): the paper's recipe for long schedules, a short-schedule "
        "one otherwise (printed at start); paper: exactly the paper's",
    )
    p.add_argument("--close-mosaic", type=int)
    p.add_argument("--patience", type=positive_int)
    p.add_argument(
        "--precision",
        choices=("auto", "fp32", "fp16", "bf16"),
        help="auto: fp16 mixed precision on CUDA, bf16 on CPUs with native bf16, else fp32",
    )
    p.add_argument("--device")
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


_FLAGS = {
    "model": "model.name",
    "data": "data.data",
    "weights": "model.weights",
    "epochs": "epochs",
    "batch": "data.batch",
    "imgsz": "data.imgsz",
    "aux": "model.aux",
    "optimizer": "optim.optimizer",
    "lr0": "optim.lr0",
    "schedule": "optim.schedule",
    "close_mosaic": "augment.close_mosaic",
    "patience": "patience",
    "precision": "precision",
    "device": "device",
    "workers": "data.workers",
    "seed": "seed",
    "sync_bn": "sync_bn",
    "recipe": "recipe",
    "out": "out",
    "exist_ok": "exist_ok",
}


def run(args: argparse.Namespace) -> int:
    from yolov9.config import resolve
    from yolov9.engine.setup import run_training
    from yolov9.errors import ConfigError

    flags = {key: getattr(args, name) for name, key in _FLAGS.items()}
    if args.resume:
        cfg = resolve(None, [], epochs=args.epochs or 1)
        result = run_training(cfg, resume=args.resume)
    else:
        if not (args.data or args.config):
            raise ConfigError("give --data (a dataset) or --config (a file that names one)")
        cfg = resolve(args.config, args.overrides, **flags)
        if not cfg.data.data:
            raise ConfigError("no dataset: set --data or data.data in the config")
        result = run_training(cfg)
    if result.best_metrics:
        m = result.best_metrics
        log.info(
            "best: AP %.4f AP50 %.4f (epoch %d)",
            m.get("AP", 0),
            m.get("AP50", 0),
            int(m.get("epoch", 0)) + 1,
        )
    log.info(
        "weights: %s%s",
        result.best or result.last,
        f"; deployable (no aux branch): {result.best_converted}" if result.best_converted else "",
    )
    return 0
