"""Training hooks: the loop calls them, logging back-ends live here (rank 0 only)."""

from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path
from typing import Any, Protocol

import yaml

log = logging.getLogger(__name__)


class Hook(Protocol):
    """What the trainer calls (rank 0 only).

    ``on_train_start`` gets ``{"config": the resolved config as a dict, "start_epoch": n}``;
    ``on_epoch_end`` the epoch's record (the row of ``results.csv``); ``on_train_end``
    ``{"best": the best epoch's record}``.
    """

    def on_train_start(self, info: dict[str, Any]) -> None: ...
    def on_epoch_end(self, record: dict[str, float]) -> None: ...
    def on_train_end(self, summary: dict[str, Any]) -> None: ...


class CsvHook:
    """``results.csv``: one row per epoch (appends on resume)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_start(self, info: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, record: dict[str, float]) -> None:
        rows = []
        if self.path.is_file():
            with open(self.path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(float(r["epoch"])) < record["epoch"]]
        rows.append({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in record.items()})
        keys = list(dict.fromkeys(k for r in rows for k in r))
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)

    def on_train_end(self, summary: dict[str, Any]) -> None:
        pass


class TensorBoardHook:
    """Scalars per epoch under ``<run>/tensorboard`` (skipped if tensorboard is missing)."""

    def __init__(self, folder: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is a dependency; keep training if it is broken
            log.warning("tensorboard unavailable; no TensorBoard logs")
            self.writer = None
            return
        self.writer = SummaryWriter(str(folder))

    def on_train_start(self, info: dict[str, Any]) -> None:
        if self.writer is not None:
            text = yaml.safe_dump(info["config"], sort_keys=False)
            # markdown: four-space indentation shows the YAML as a code block
            self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()))

    def on_epoch_end(self, record: dict[str, float]) -> None:
        if self.writer is None:
            return
        for key, value in record.items():
            if key != "epoch" and isinstance(value, int | float):
                self.writer.add_scalar(key, value, int(record["epoch"]))
        self.writer.flush()

    def on_train_end(self, summary: dict[str, Any]) -> None:
        if self.writer is not None:
            self.writer.close()


class PlotHook:
    """``results.png`` (loss and mAP curves) after every validated epoch, after any epoch
    that ends ``every`` seconds or more after the last plot, and at the end. (A plot takes
    about 0.25 s: after every 3 s epoch of the demo it cost 8 % of the run.)"""

    def __init__(self, run_dir: Path, every: float = 60.0) -> None:
        self.run_dir, self.every = run_dir, every
        self.last = -math.inf

    def on_train_start(self, info: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, record: dict[str, float]) -> None:
        validated = "AP" in record or "mIoU" in record
        if validated or time.monotonic() - self.last >= self.every:
            self._plot()

    def on_train_end(self, summary: dict[str, Any]) -> None:
        self._plot()

    def _plot(self) -> None:
        from yolov9.utils.plots import plot_results

        csv_path = self.run_dir / "results.csv"
        if csv_path.is_file():
            plot_results(csv_path, self.run_dir / "results.png")
        self.last = time.monotonic()
