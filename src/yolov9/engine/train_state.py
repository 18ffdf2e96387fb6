"""Training checkpoints: deployable EMA weights plus everything an exact resume needs.

``last.pt`` / ``best.pt`` are our checkpoint format (tensors and JSON only): ``model`` holds
the EMA weights, which is what ``yolov9 val/predict/export`` use; ``train`` holds the rest of
:meth:`Trainer.state_dict` (raw weights, optimizer, grad scaler, EMA counter, epoch, best AP
and epoch, the epoch history, RNG state). ``meta`` holds the run's resolved config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from yolov9.checkpoints import read_torch_file, save_checkpoint
from yolov9.errors import CheckpointError
from yolov9.models import YOLOv9

FORMAT = 2  # 1: before the epoch history and best epoch were saved


def save_training_checkpoint(
    path: Path,
    ema_model: YOLOv9,
    names: list[str],
    meta: dict[str, Any],
    state: dict[str, Any],
) -> Path:
    """Write atomically; the EMA weights are stored once, as the checkpoint's model (``state``
    is :meth:`Trainer.state_dict` without them)."""
    train = {**state, "format": FORMAT}
    return save_checkpoint(path, ema_model, names, meta=meta, extra={"train": train})


def read_training_state(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(meta with the run's config, trainer state with the EMA weights) of a ``last.pt``.

    Raises:
        CheckpointError: not one of our training checkpoints.
    """
    obj = read_torch_file(path)
    if not isinstance(obj, dict) or "train" not in obj or "meta" not in obj:
        raise CheckpointError(
            f"{path}: not a resumable training checkpoint (use --weights to start from it)"
        )
    meta = json.loads(obj["meta"])
    if "config" not in meta:
        raise CheckpointError(f"{path}: the checkpoint holds no training config")
    train = dict(obj["train"])
    if train.get("format", 1) == 1:  # no history: the best epoch follows from the stale count
        train["best_epoch"] = int(train["epoch"]) - int(train.get("stale_epochs", 0))
        train["history"] = []
    train["ema"] = obj["model"]
    return meta, train
