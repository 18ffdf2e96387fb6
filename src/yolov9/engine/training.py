"""``yolov9 train``, from the CLI and the Python API alike: start a run from a resolved config
(:func:`train`) or continue one from its ``last.pt`` (:func:`resume`).

A resumed run is its saved config, plus the values given now (``epochs`` to extend it,
``patience``, ``optim.lr0``, ``data.workers`` ...), plus the saved trainer state. What the
saved state depends on cannot change: the network, the optimiser type, the dataset's classes
and the run folder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from yolov9.config import TrainConfig, from_dict, parse_override
from yolov9.engine.build import TrainingParts, build_training, check_model_name
from yolov9.engine.hooks import CsvHook, Hook, PlotHook, TensorBoardHook
from yolov9.engine.recipes import apply_recipe, choose_recipe, run_warnings
from yolov9.engine.train_state import read_training_state
from yolov9.engine.trainer import Trainer, TrainResult
from yolov9.engine.training_data import (
    TrainingData,
    check_training_masks,
    label_sizes,
    load_training_data,
    plot_label_statistics,
)
from yolov9.errors import ConfigError
from yolov9.models import parse_model_name
from yolov9.utils.device import select_device
from yolov9.utils.dist import DistInfo, broadcast_object, cleanup, init_distributed
from yolov9.utils.paths import new_run_dir
from yolov9.utils.perf import tune_cpu_allocator

log = logging.getLogger(__name__)

# what the saved state depends on: a resumed run keeps them
FIXED_ON_RESUME = ("model.name", "model.aux", "model.weights", "optim.optimizer", "out")


def train(cfg: TrainConfig, *, hooks: Sequence[Hook] = ()) -> TrainResult:
    """Train as configured. ``hooks`` are added to the built-in loggers (rank 0 only)."""
    if not cfg.data.data:
        raise ConfigError("no dataset: set data.data (--data)")
    return _run(cfg, None, None, hooks)


def resume(
    last: str | Path,
    values: Mapping[str, Any] | None = None,
    *,
    overrides: Iterable[str] = (),
    hooks: Sequence[Hook] = (),
) -> TrainResult:
    """Continue the run whose ``last.pt`` is ``last``, with ``values`` (flag names or config
    keys, as for :func:`yolov9.config.resolve`) and then ``overrides`` (``"key=value"``)
    replacing saved values."""
    cfg, state = resume_config(last, values or {}, overrides)
    run_dir = Path(last).resolve().parent.parent
    log.info("resuming %s after epoch %d of %d", run_dir, state["epoch"] + 1, cfg.epochs)
    return _run(cfg, state, run_dir, hooks)


def _setting(cfg: TrainConfig, key: str) -> Any:
    value: Any = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


def resume_config(
    last: str | Path, values: Mapping[str, Any], overrides: Iterable[str] = ()
) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and trainer state to continue ``last`` with ``values`` applied."""
    meta, state = read_training_state(last)
    saved = from_dict(meta["config"])
    cfg = saved.with_values(values, explicit=True)
    for text in overrides:  # as on a fresh run: config keys only, no flag names
        cfg = cfg.with_values(parse_override(text), explicit=True, flags=False)
    state["names"] = list(meta["names"])
    for key in FIXED_ON_RESUME:
        old, new = _setting(saved, key), _setting(cfg, key)
        if old != new:
            raise ConfigError(
                f"{key} cannot change when resuming ({old!r} in {last}, {new!r} given); "
                "start a new run with --weights to train from its weights"
            )
    done = int(state["epoch"]) + 1
    if cfg.epochs <= done:
        raise ConfigError(
            f"{last}: the run has done {done} of {saved.epochs} epochs; give a larger "
            f"epochs (--epochs) to continue it"
        )
    return cfg, state


def _run(
    cfg: TrainConfig,
    state: dict[str, Any] | None,
    run_dir: Path | None,
    extra_hooks: Sequence[Hook],
) -> TrainResult:
    check_model_name(cfg.model.name)  # unknown names fail before any data is read
    tune_cpu_allocator()
    dist, dist_device = init_distributed(cfg.device)
    try:
        device = dist_device or select_device(cfg.device)
        _seed(cfg, dist)
        data = load_training_data(cfg.data.data)
        if parse_model_name(cfg.model.name).task == "segment":
            check_training_masks(data)
        if state is not None and data.names != state["names"]:
            raise ConfigError(
                f"{cfg.data.data} has the classes {data.names[:5]}..., the run to resume "
                f"{state['names'][:5]}... ({len(data.names)} against {len(state['names'])}); "
                "start a new run with --weights to train on other classes"
            )
        if state is None:
            choice = choose_recipe(cfg, len(data.train))
            cfg = apply_recipe(cfg, choice)
            if dist.is_main:
                log.info(choice.line())
        hooks: list[Hook] = []
        if dist.is_main:
            for warning in run_warnings(
                cfg, len(data.train), *label_sizes(data.train, cfg.data.imgsz), data.names
            ):
                log.warning("warning: %s", warning)
            run_dir = run_dir or new_run_dir(cfg.out, cfg.exist_ok)
            _prepare_run_dir(run_dir, cfg, data)
            hooks = [
                CsvHook(run_dir / "results.csv"),
                TensorBoardHook(run_dir / "tensorboard"),
                PlotHook(run_dir),
                *extra_hooks,
            ]
        # every rank reports the same paths (only rank 0 writes into the folder)
        run_dir = Path(broadcast_object(str(run_dir or cfg.out), dist))
        parts = build_training(
            cfg, data, device=device, dist=dist, run_dir=run_dir, hooks=hooks, fresh=state is None
        )
        trainer = Trainer(parts)
        if state is not None:
            trainer.load_state_dict(state)
        if dist.is_main:
            _announce(parts, len(data.train))
        return trainer.fit()
    finally:
        cleanup(dist)


def _announce(parts: TrainingParts, images: int) -> None:
    cfg = parts.cfg
    log.info(
        "training %s (%s) on %d images, %d classes, %s, %d process(es); batch %d, "
        "accumulate %d (nominal %d); run folder %s",
        parts.model.name,
        parts.model.aux_mode,
        images,
        len(parts.names),
        parts.device,
        parts.dist.world_size,
        cfg.data.batch,
        parts.accumulate,
        cfg.optim.nominal_batch,
        parts.run_dir,
    )


def _seed(cfg: TrainConfig, dist: DistInfo) -> None:
    torch.manual_seed(cfg.seed + dist.rank)
    np.random.seed(cfg.seed + dist.rank)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)


def _prepare_run_dir(run_dir: Path, cfg: TrainConfig, data: TrainingData) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    data.report(run_dir)
    plot_label_statistics(data.train, run_dir / "labels.png")
