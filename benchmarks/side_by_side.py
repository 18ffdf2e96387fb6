"""What the small-data benchmarks share: runs keyed by model and seed, kept in a summary file
so that an interrupted benchmark goes on where it stopped, and the table of runs and means."""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

Run = Callable[[str, int, Path], dict[str, float]]  # (model, seed, run folder) -> figures


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
