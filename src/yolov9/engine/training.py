"""``yolov9 train``, from the CLI and the Python API alike: start a run from a resolved config
(:func:`train`) or continue one from its ``last.pt`` (:func:`resume`).

A resumed run is its saved config, plus the values given now (``epochs`` to extend it,
``patience``, ``optim.lr0``, ``data.workers`` ...), plus the saved trainer state. What the
saved state depends on cannot change: the network, the optimiser type, the dataset's classes
and the run folder.

Under ``torchrun --max-restarts N`` a restarted job resumes on its own: see
:mod:`yolov9.engine.elastic`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed
import yaml

from yolov9.config import TrainConfig, from_dict, parse_override
from yolov9.engine import elastic
from yolov9.engine.build import TrainingParts, build_training, check_model_name
from yolov9.engine.hooks import CsvHook, Hook, PlotHook, TensorBoardHook
from yolov9.engine.recipes import apply_recipe, choose_recipe, run_warnings
from yolov9.engine.train_state import read_training_state
from yolov9.engine.trainer import Trainer, TrainResult
from yolov9.engine.training_data import (
    TrainingData,
    check_caption_data,
    check_semantic_labels,
    check_training_masks,
    label_sizes,
    load_training_data,
    plot_label_statistics,
)
from yolov9.errors import ConfigError
from yolov9.models import parse_model_name
from yolov9.tasks.registry import get_task
from yolov9.utils.device import select_device
from yolov9.utils.dist import (
    ENV_TIMEOUT,
    DistInfo,
    all_ranks,
    broadcast_object,
    cleanup,
    collective_timeout,
    init_distributed,
)
from yolov9.utils.paths import new_run_dir
from yolov9.utils.perf import tune_cpu_allocator

log = logging.getLogger(__name__)

# what the saved state depends on: a resumed run keeps them
FIXED_ON_RESUME = (
    "model.name",
    "model.aux",
    "model.weights",
    "optim.optimizer",
    "optim.language_step",
    "out",
)


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
    # after an elastic restart ``last`` may hold the run's final epoch already
    finished_ok = elastic.enabled()
    cfg, state = resume_config(last, values or {}, overrides, finished_ok=finished_ok)
    run_dir = Path(last).resolve().parent.parent
    log.info("resuming %s after epoch %d of %d", run_dir, state["epoch"] + 1, cfg.epochs)
    return _run(cfg, state, run_dir, hooks)


def _setting(cfg: TrainConfig, key: str) -> Any:
    value: Any = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


def resume_config(
    last: str | Path,
    values: Mapping[str, Any],
    overrides: Iterable[str] = (),
    *,
    finished_ok: bool = False,
) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and trainer state to continue ``last`` with ``values`` applied.
    ``finished_ok``: a run that has done all its epochs is accepted (it only finishes)."""
    meta, state = read_training_state(last)
    saved = from_dict(meta["config"])
    cfg = saved.with_values(values, explicit=True)
    for text in overrides:  # as on a fresh run: config keys only, no flag names
        cfg = cfg.with_values(parse_override(text), explicit=True, flags=False)
    state["names"] = list(meta["names"])
    state["stuff_names"] = list(meta.get("stuff_names") or [])
    for key in FIXED_ON_RESUME:
        old, new = _setting(saved, key), _setting(cfg, key)
        if old != new:
            raise ConfigError(
                f"{key} cannot change when resuming ({old!r} in {last}, {new!r} given); "
                "start a new run with --weights to train from its weights"
            )
    done = int(state["epoch"]) + 1
    if cfg.epochs <= done and not (finished_ok and cfg.epochs == done):
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
        # a restarted round, when any rank's node has restarted (on a node whose workers were
        # stopped only because another node's failed, TORCHELASTIC_RESTART_COUNT stays 0)
        if elastic.enabled() and not all_ranks(elastic.restart_count() == 0, dist, device):
            cfg, state, run_dir = _after_restart(cfg, state, run_dir, dist)
        _seed(cfg, dist)
        data = load_training_data(cfg.data.data)
        task = get_task(parse_model_name(cfg.model.name).task)
        check_caption_data(data, cfg.model.name, captions=task.gives("caption"))
        check_semantic_labels(data, cfg.model.name, panoptic=task.gives("semantic"))
        if task.needs("masks"):
            check_training_masks(data)
        stuff = data.stuff_names if task.gives("semantic") else []
        if state is not None and (
            data.names != state["names"] or stuff != state.get("stuff_names", [])
        ):
            what, ours, theirs = "classes", data.names, state["names"]
            if data.names == state["names"]:
                what, ours, theirs = "stuff classes", stuff, state.get("stuff_names", [])
            raise ConfigError(
                f"{cfg.data.data} has the {what} {ours[:5]}..., the run to resume "
                f"{theirs[:5]}... ({len(ours)} against {len(theirs)}); "
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
            if elastic.enabled():  # where a restarted job finds this run
                saved = -1 if state is None else int(state["epoch"])
                elastic.write_record(cfg.out, elastic.RunRecord(run_dir, saved))
                hooks.append(elastic.RecordHook(cfg.out, run_dir))
            hooks += [
                CsvHook(run_dir / "results.csv"),
                TensorBoardHook(run_dir / "tensorboard"),
                PlotHook(run_dir),
                *extra_hooks,
            ]
        # every rank reports the same paths (only rank 0 writes into the folder)
        run_dir = Path(broadcast_object(str(run_dir or cfg.out), dist))
        parts = build_training(
            cfg,
            data,
            device=device,
            dist=dist,
            run_dir=run_dir,
            hooks=hooks,
            fresh=state is None,
            vocabulary=_kept_vocabulary(state),
        )
        trainer = Trainer(parts)
        if state is not None:
            trainer.load_state_dict(state)
        if dist.is_main:
            _announce(parts, len(data.train))
        result = trainer.fit()
        if dist.is_main and elastic.enabled():
            elastic.remove_record(cfg.out)
    except RuntimeError as e:
        if dist.enabled and _collective_failed(e):
            log.error(
                "rank %d: a collective failed; another process died, failed or did not "
                "answer within %s=%.0f s (its own error is in its log)",
                dist.rank,
                ENV_TIMEOUT,
                collective_timeout().total_seconds(),
            )
        raise
    # no cleanup after an error: see yolov9.utils.dist.cleanup
    cleanup(dist)
    return result


def _collective_failed(e: RuntimeError) -> bool:
    """Whether ``e`` comes from a collective (gloo raises plain RuntimeErrors naming itself,
    e.g. "Connection closed by peer" or "Timed out waiting 600000ms for recv")."""
    return isinstance(e, torch.distributed.DistError) or "gloo" in str(e).lower()


def _after_restart(
    cfg: TrainConfig, state: dict[str, Any] | None, run_dir: Path | None, dist: DistInfo
) -> tuple[TrainConfig, dict[str, Any] | None, Path | None]:
    """After torchrun restarted the job: the run folder of the first attempt (rank 0 reads
    the record, every rank gets it) and, when an epoch was saved there, its config and state."""
    record = elastic.read_record(cfg.out) if dist.is_main else None
    if record is not None and not record.last.is_file():  # decided on rank 0, for every rank
        record = elastic.RunRecord(record.run_dir)
    record = broadcast_object(record, dist)
    attempt = f"restarted by torchrun (--max-restarts {elastic.max_restarts()})"
    if record is None:
        if dist.is_main:
            log.warning("%s: no record of the job's run folder: starting afresh", attempt)
        return cfg, state, run_dir
    if record.saved_epoch < 0:
        if dist.is_main:
            log.warning(
                "%s: the previous attempt saved no epoch: starting again in %s",
                attempt,
                record.run_dir,
            )
        return cfg, state, record.run_dir
    cfg, state = resume_config(record.last, {}, finished_ok=True)
    if dist.is_main:
        log.warning(
            "%s: resumed %s from weights/last.pt after epoch %d of %d (the epoch that was "
            "running is repeated)",
            attempt,
            record.run_dir,
            int(state["epoch"]) + 1,
            cfg.epochs,
        )
    return cfg, state, record.run_dir


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


def _kept_vocabulary(state: dict[str, Any] | None) -> bytes | None:
    """A resumed caption run's vocabulary (its model's ``caption.vocab`` bytes), so that the
    run goes on with the tokens its embeddings learnt, whatever its --weights file became."""
    if state is None or "caption.vocab" not in state["model"]:
        return None
    return bytes(state["model"]["caption.vocab"].numpy().tobytes()) or None
