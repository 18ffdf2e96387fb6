"""Training checkpoints: deployable EMA weights plus everything an exact resume needs.

``last.pt`` / ``best.pt`` are our checkpoint format (tensors and JSON only): ``model`` holds
the EMA weights, which is what ``yolov9 val/predict/export`` use; ``train`` holds the raw
weights, optimizer, grad scaler, EMA counter, epoch, best score and RNG state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from yolov9.checkpoints import read_torch_file, save_checkpoint
from yolov9.errors import CheckpointError
from yolov9.models import YOLOv9


def save_training_checkpoint(
    path: Path,
    *,
    ema_model: YOLOv9,
    model: YOLOv9,
    names: list[str],
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    ema_updates: int,
    epoch: int,
    best_fitness: float,
    stale_epochs: int = 0,
) -> Path:
    train = {
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "ema_updates": ema_updates,
        "epoch": epoch,  # last completed epoch
        "best_fitness": best_fitness,
        "stale_epochs": stale_epochs,  # epochs since the best AP (early stopping)
        "torch_rng": torch.get_rng_state(),
    }
    return save_checkpoint(path, ema_model, names, meta=meta, extra={"train": train})


def read_training_state(path: str | Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(meta with the run's config, EMA weights, training state) of a ``last.pt``.

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
    return meta, obj["model"], obj["train"]
