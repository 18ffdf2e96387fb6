"""Argument types and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from yolov9.config import INFERENCE_PRECISIONS
from yolov9.errors import ConfigError

log = logging.getLogger("yolov9")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def imgsz(text: str) -> int:
    value = int(text)
    if value < 32 or value % 32:
        raise argparse.ArgumentTypeError(f"must be a multiple of 32 (>= 32), got {value}")
    return value


def unit_float(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def add_device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--precision",
        choices=INFERENCE_PRECISIONS,
        default="fp32",
        help="fp32 (default), fp16 (CUDA) or bf16 autocast (fast on recent CPUs)",
    )
    add_threads_arg(p)


def add_threads_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="CPU threads for PyTorch and the exported runtimes, fixed (default: one per "
        "core, fewer while other processes take cores; README 'CPU threads on a busy machine')",
    )


def write_json(path: str | Path, obj: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))
    return path


def add_caption_args(p: argparse.ArgumentParser) -> None:
    """How a caption model decodes (beam search by default)."""
    cap = p.add_argument_group("caption models")
    cap.add_argument(
        "--beam",
        type=positive_int,
        default=None,
        help="beam width of caption decoding (default 5; 1: greedy)",
    )
    cap.add_argument(
        "--max-tokens",
        type=positive_int,
        default=None,
        help="longest caption in tokens (default 20, at most what the model was trained for)",
    )
    cap.add_argument(
        "--length-penalty",
        type=float,
        default=None,
        help="beam search ranks captions by sum(log p) / length ** this (default 1.0: the mean "
        "log-probability per token; 0: the sum, which favours short captions)",
    )


# decoding flag -> the ``models.caption_search.Decoding`` field it sets
DECODING_FLAGS = {"beam": "beam", "max_tokens": "max_len", "length_penalty": "length_penalty"}


def caption_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The decoding flags given (``add_caption_args``), by argument name."""
    return {k: getattr(args, k) for k in DECODING_FLAGS if getattr(args, k) is not None}


def apply_caption_args(args: argparse.Namespace, backend: Any, task: Any, weights: str) -> None:
    """Set a caption model's decoding from the flags; the flags on another model: one line."""
    given = caption_flags(args)
    if not given:
        return
    if not task.gives("caption"):
        flags = ", ".join(f"--{k.replace('_', '-')}" for k in given)
        raise ConfigError(f"{flags}: for caption models; {weights} is a {task.description} model")
    fields = {DECODING_FLAGS[k]: v for k, v in given.items()}
    backend.decoding = dataclasses.replace(backend.decoding, **fields)


def add_tile_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sliced inference (small objects in large images)")
    g.add_argument(
        "--tile",
        type=int,
        default=None,
        metavar="SIZE",
        help="run each image as SIZE x SIZE tiles at its own resolution, merged afterwards",
    )
    g.add_argument(
        "--tile-overlap", type=float, default=None, metavar="F", help="overlap of tiles (0.2)"
    )
    g.add_argument(
        "--tile-whole",
        action="store_true",
        help="also run the whole image at --imgsz (objects larger than a tile)",
    )
    g.add_argument(
        "--tile-merge",
        choices=("nmm", "nms"),
        default=None,
        help="nms: keep the best of boxes that match (default), nmm: merge them (as SAHI)",
    )
    g.add_argument(
        "--tile-match",
        choices=("ios", "iou"),
        default=None,
        help="match metric of the merge: intersection over the smaller box (default) or IoU",
    )
    g.add_argument(
        "--tile-threshold", type=unit_float, default=None, help="match threshold of the merge (0.5)"
    )


def tile_values(args: argparse.Namespace) -> dict[str, Any]:
    """The tile flags given, as keyword arguments of ``Detector.predict`` / ``val``.

    Raises:
        ConfigError: a tile setting without ``--tile``.
    """
    from yolov9.errors import ConfigError

    values = {
        k: getattr(args, k)
        for k in ("tile_overlap", "tile_merge", "tile_match", "tile_threshold")
        if getattr(args, k) is not None
    }
    if args.tile_whole:
        values["tile_whole"] = True
    if args.tile is None:
        if values:
            flags = ", ".join("--" + k.replace("_", "-") for k in values)
            raise ConfigError(f"{flags} need --tile SIZE")
        return {}
    return {"tile": args.tile, **values}
