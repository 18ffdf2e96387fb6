"""Argument types and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from yolov9.config import INFERENCE_PRECISIONS

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
