"""What the small-data benchmarks share: one run (train from scratch with the library's
defaults, score the converted best checkpoint with ``val``), runs keyed by model and seed,
kept in a summary file so that an interrupted benchmark goes on where it stopped, and the
table of runs and means."""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

Run = Callable[[str, int, Path], dict[str, float]]  # (model, seed, run folder) -> figures


def add_run_arguments(
    parser: argparse.ArgumentParser, *, train: int, val: int, models: Sequence[str], out: str
) -> None:
    """The options every small-data benchmark takes: its generated split sizes, epochs,
    seeds, models (``MODEL+ARM`` for an arm) and output folder."""
    parser.add_argument("--train", type=int, default=train)
    parser.add_argument("--val", type=int, default=val)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=list(models))
    parser.add_argument("--out", type=Path, default=Path(out))


def with_arm(name: str, arms: dict[str, list[str]]) -> tuple[str, list[str]]:
    """``MODEL+ARM`` -> (the model, the arm's config values); a plain model has none."""
    model, _, arm = name.partition("+")
    return model, arms[arm] if arm else []


def train_and_val(
    model: str,
    data: Path,
    out: Path,
    *,
    seed: int,
    epochs: int,
    batch: int = 16,
    imgsz: int = 160,
    overrides: Sequence[str] = (),
) -> tuple[Any, dict[str, float]]:
    """Train ``model`` from scratch on ``data`` into ``out`` (the library's defaults, validated
    every 5 epochs) and score its converted best checkpoint with ``val``: (the val report,
    the best epoch, the median seconds per training epoch and the minutes of the whole run).
    """
    from yolov9.api import Detector, train

    start = time.perf_counter()
    result = train(
        overrides=overrides,
        model=model,
        data=str(data),
        imgsz=imgsz,
        batch=batch,
        epochs=epochs,
        seed=seed,
        out=str(out),
        exist_ok=True,
        val_every=min(5, epochs),
    )
    weights = result.best_converted or result.best or result.last
    report = Detector.from_pretrained(weights, device="cpu").val(
        str(data), device="cpu", out=str(out / "val"), exist_ok=True
    )
    times = [r["time"] for r in result.history if "time" in r]
    return report, {
        "best_epoch": float(result.best_metrics.get("epoch", -1)) + 1,
        "epoch_s": statistics.median(times) if times else 0.0,
        "wall_min": (time.perf_counter() - start) / 60,
    }


def run_all(
    out: Path, models: Sequence[str], seeds: Sequence[int], tag: str, run: Run
) -> dict[str, dict[str, float]]:
    """Every (seed, model) run not yet in ``out/summary.json``, written there after each."""
    summary_path = out / "summary.json"
    runs: dict[str, dict[str, float]] = (
        json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    )
    for seed in seeds:
        for model in models:
            key = f"{model}/seed{seed}/{tag}"
            if key in runs:
                continue
            runs[key] = run(model, seed, out / key)
            print(key, json.dumps(runs[key]), flush=True)
            summary_path.write_text(json.dumps(runs, indent=1))
    return runs


def _cell(value: float) -> str:
    """Four decimals; a dash for a figure the model does not have (NaN)."""
    return "-" if math.isnan(value) else f"{value:.4f}"


def print_table(
    runs: dict[str, dict[str, float]],
    models: Sequence[str],
    seeds: Sequence[int],
    tag: str,
    columns: dict[str, str],
    extra: dict[str, str] | None = None,
) -> None:
    """The command, then one row per run and the mean of each model over seeds:
    ``columns`` (key -> header) as means, ``extra`` (key -> header) as medians."""
    extra = extra or {}
    print("\n" + " ".join(["python", *sys.argv]))
    headers = ["model", "seed", *columns.values(), *extra.values()]
    print("\n| " + " | ".join(headers) + " |")
    print("|---|---|" + "---:|" * (len(columns) + len(extra)))
    for model in models:
        rows = [runs[f"{model}/seed{s}/{tag}"] for s in seeds]
        for seed, r in zip(seeds, rows, strict=True):
            cells = [_cell(r[k]) for k in columns]
            cells += [f"{r[k]:.1f}".removesuffix(".0") for k in extra]
            print(f"| {model} | {seed} | " + " | ".join(cells) + " |")
        means = [f"**{_cell(statistics.mean(r[k] for r in rows))}**" for k in columns]
        medians = [f"{statistics.median(r[k] for r in rows):.1f}".removesuffix(".0") for k in extra]
        print(f"| {model} | mean | " + " | ".join(means + medians) + " |")
