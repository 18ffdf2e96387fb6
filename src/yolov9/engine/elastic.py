"""Elastic restarts under ``torchrun --max-restarts N``: a restarted job continues its run.

When a worker dies, torchrun stops the others and starts every worker again with
``TORCHELASTIC_RESTART_COUNT`` one higher and the same command line. The first attempt
chose a run folder (``out``, or ``out-2`` ... when ``out`` existed), so rank 0 records it in
a small file next to ``out`` (:func:`record_path`, named by the job's
``TORCHELASTIC_RUN_ID``) and updates it after every saved epoch. A restarted attempt reads
the record: with an epoch saved it resumes from that folder's ``weights/last.pt`` (the
epoch that was running is lost), without one it starts afresh in the same folder. The
record is removed when the run completes.

Across several nodes the run folder must be on a file system every node sees (rank 0 of a
restarted job may be on another node), as for any resume.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENV_RESTART_COUNT = "TORCHELASTIC_RESTART_COUNT"
ENV_MAX_RESTARTS = "TORCHELASTIC_MAX_RESTARTS"
ENV_RUN_ID = "TORCHELASTIC_RUN_ID"


def restart_count() -> int:
    """How many times torchrun has restarted this job's workers (0: the first attempt)."""
    return int(os.environ.get(ENV_RESTART_COUNT) or 0)


def max_restarts() -> int:
    """torchrun's ``--max-restarts`` (0 outside torchrun)."""
    return int(os.environ.get(ENV_MAX_RESTARTS) or 0)


def enabled() -> bool:
    """Whether this job can be restarted (the same on every node: the same torchrun flags)."""
    return max_restarts() > 0


@dataclass(frozen=True)
class RunRecord:
    """The run folder of this job, and the last epoch saved to it by this job (-1: none)."""

    run_dir: Path
    saved_epoch: int = -1

    @property
    def last(self) -> Path:
        return self.run_dir / "weights" / "last.pt"


def record_path(out: str | Path, run_id: str | None = None) -> Path:
    """``<parent of out>/.<name of out>.elastic-<run id>.json``: one record per job and
    ``out``; ``run_id`` defaults to ``$TORCHELASTIC_RUN_ID``."""
    out = Path(out)
    run_id = os.environ.get(ENV_RUN_ID, "none") if run_id is None else run_id
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id) or "none"
    return out.parent / f".{out.name}.elastic-{safe}.json"


def write_record(out: str | Path, record: RunRecord) -> None:
    """Write (atomically) the record of this job's run folder."""
    path = record_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = {"run_dir": str(record.run_dir.resolve()), "saved_epoch": record.saved_epoch}
    tmp.write_text(json.dumps(text))
    tmp.replace(path)


def read_record(out: str | Path) -> RunRecord | None:
    """This job's record, if the first attempt wrote one (and it can be read)."""
    path = record_path(out)
    try:
        data: Any = json.loads(path.read_text())
        return RunRecord(Path(data["run_dir"]), int(data["saved_epoch"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("ignoring the unreadable restart record %s: %s", path, e)
        return None


def remove_record(out: str | Path) -> None:
    record_path(out).unlink(missing_ok=True)


class RecordHook:
    """Keeps the record's ``saved_epoch`` current (the trainer calls hooks after saving)."""

    def __init__(self, out: str | Path, run_dir: Path) -> None:
        self.out = out
        self.run_dir = run_dir

    def on_train_start(self, info: dict[str, Any]) -> None:
        pass

    def on_epoch_end(self, record: dict[str, float]) -> None:
        write_record(self.out, RunRecord(self.run_dir, int(record["epoch"])))

    def on_train_end(self, summary: dict[str, Any]) -> None:
        pass
