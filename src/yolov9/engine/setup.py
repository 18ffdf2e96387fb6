"""Everything ``yolov9 train`` does before the loop: datasets, model, fine-tuning transfer,
run folder, hooks; and the one function that runs it all (``run_training``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import yaml

from yolov9.config import TrainConfig, from_dict
from yolov9.data.dataset import DetectionDataset, load_dataset
from yolov9.data.labels import Issue
from yolov9.data.train_dataset import TrainDataset
from yolov9.data.transforms import AugmentSpec
from yolov9.engine.evaluator import Evaluator
from yolov9.engine.hooks import CsvHook, Hook, PlotHook, TensorBoardHook
from yolov9.engine.train_state import read_training_state
from yolov9.engine.trainer import Trainer, TrainResult
from yolov9.errors import DataError
from yolov9.models import YOLOv9, build_model
from yolov9.recipes import apply_recipe, choose_recipe, run_warnings
from yolov9.utils.device import select_device
from yolov9.utils.dist import DistInfo, cleanup, init_distributed

log = logging.getLogger(__name__)


def check_training_data(ds: DetectionDataset) -> None:
    """Refuse a training split that is bad as a whole, listing why; warn about the rest."""
    counts = ds.report.counts
    dropped_images = (
        counts[Issue.MISSING_IMAGE]
        + counts[Issue.UNREADABLE_IMAGE]
        + counts[Issue.UNREADABLE_LABELS]
    )
    dropped_boxes = sum(n for k, n in counts.items() if "dropped" in k.action and "box" in k.action)
    reasons = []
    if ds.report.boxes == 0:
        reasons.append("no usable box at all")
    if dropped_images > len(ds):
        reasons.append(f"{dropped_images} images dropped, only {len(ds)} usable")
    if dropped_boxes > ds.report.boxes:
        reasons.append(f"{dropped_boxes} labels dropped, only {ds.report.boxes} usable")
    if reasons:
        details = "; ".join(str(i) for i in ds.report.problems[:5])
        raise DataError(
            f"refusing to train on {ds.report.split}: {', '.join(reasons)}. First problems: "
            f"{details}. Fix the labels (see label_issues.txt) and run again."
        )


def transfer_weights(model: YOLOv9, weights: str) -> None:
    """Start from any readable checkpoint: copy every tensor whose name and shape match.

    A different class count re-initialises the class outputs; a checkpoint without the
    auxiliary branch leaves a fresh one.
    """
    from yolov9.checkpoints import load_weights

    source = load_weights(weights).model.state_dict()
    target = model.state_dict()
    matched = {k: v for k, v in source.items() if k in target and v.shape == target[k].shape}
    model.load_state_dict(matched, strict=False)
    fresh = [k for k in target if k not in matched]
    log.info("started from %s: %d/%d tensors transferred", weights, len(matched), len(target))
    if fresh:
        parts = sorted(
            {
                k.split(".")[0] + ("." + k.split(".")[1] if k.startswith("aux") else "")
                for k in fresh
            }
        )
        log.info("  newly initialised: %d tensors in %s", len(fresh), ", ".join(parts))


def _augment_spec(cfg: TrainConfig) -> AugmentSpec:
    a = cfg.augment
    return AugmentSpec(
        a.hsv_h,
        a.hsv_s,
        a.hsv_v,
        a.degrees,
        a.translate,
        a.scale,
        a.shear,
        a.perspective,
        a.flipud,
        a.fliplr,
        a.mosaic,
        a.mixup,
        a.copy_paste,
    )


def _run_dir(cfg: TrainConfig) -> Path:
    from yolov9.cli.common import new_run_dir

    return new_run_dir(cfg.out, cfg.exist_ok)


def run_training(
    cfg: TrainConfig, *, resume: str | Path | None = None, hooks: Sequence[Hook] = ()
) -> TrainResult:
    """Train as configured, or continue the run whose ``last.pt`` is ``resume`` (its config,
    with ``cfg.epochs`` allowed to extend it and an explicitly set ``cfg.patience`` to
    replace its own). ``hooks`` are added to the built-in loggers
    (rank 0 only)."""
    from yolov9.utils.perf import tune_cpu_allocator

    tune_cpu_allocator()
    dist, dist_device = init_distributed(cfg.device)
    try:
        return _run(cfg, dist, dist_device, resume, hooks)
    finally:
        cleanup(dist)


def _run(
    cfg: TrainConfig,
    dist: DistInfo,
    dist_device: torch.device | None,
    resume: str | Path | None,
    extra_hooks: Sequence[Hook],
) -> TrainResult:
    state = None
    if resume is not None:
        meta, ema_state, train_state = read_training_state(resume)
        epochs, patience, asked = cfg.epochs, cfg.patience, cfg.explicit
        cfg = from_dict(meta["config"])
        cfg.epochs = max(cfg.epochs, epochs)
        if "patience" in asked:
            cfg.patience = patience
        state = {**train_state, "ema": ema_state}
        run_dir = Path(resume).resolve().parent.parent
        log.info("resuming %s after epoch %d of %d", run_dir, state["epoch"] + 1, cfg.epochs)
    device = dist_device or select_device(cfg.device)
    torch.manual_seed(cfg.seed + dist.rank)
    np.random.seed(cfg.seed + dist.rank)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)

    train_ds = load_dataset(cfg.data.data, "train")
    check_training_data(train_ds)
    try:
        val_ds: DetectionDataset | None = load_dataset(cfg.data.data, "val")
    except DataError as e:
        log.warning("no validation: %s", e)
        val_ds = None
    if val_ds is not None and val_ds.names != train_ds.names:
        raise DataError("the train and val splits have different class names")
    names = train_ds.names
    if state is None:
        choice = choose_recipe(cfg, len(train_ds), len(names))
        apply_recipe(cfg, choice)
        if dist.is_main:
            log.info(choice.line())
    if dist.is_main:
        for warning in run_warnings(
            cfg, len(train_ds), *_label_sizes(train_ds, cfg.data.imgsz), names
        ):
            log.warning("warning: %s", warning)

    model = build_model(cfg.model.name, len(names), aux=cfg.model.aux)
    if cfg.model.weights and state is None:
        transfer_weights(model, cfg.model.weights)

    if dist.is_main:
        if state is None:
            run_dir = _run_dir(cfg)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        train_ds.report.log()
        train_ds.report.write(run_dir / "label_issues.txt")
        if val_ds is not None:
            val_ds.report.log()
            val_ds.report.write(run_dir / "label_issues_val.txt")
        _label_plot(train_ds, run_dir)
    else:
        run_dir = Path(cfg.out)
    evaluator = None
    if dist.is_main and val_ds is not None:
        evaluator = Evaluator(
            val_ds,
            imgsz=cfg.data.imgsz,
            batch_size=cfg.data.val_batch,
            workers=cfg.data.workers,
            device=device,
            progress=True,
        )
    hooks: list[Hook] = []
    if dist.is_main:
        hooks = [
            CsvHook(run_dir / "results.csv"),
            TensorBoardHook(run_dir / "tensorboard"),
            PlotHook(run_dir),
            *extra_hooks,
        ]
    train_set = TrainDataset(train_ds.records, cfg.data.imgsz, _augment_spec(cfg), seed=cfg.seed)
    if cfg.data.cache != "none":
        budget = 2 << 30 if cfg.data.cache == "auto" else 1 << 62
        if train_set.cache_images(budget) and dist.is_main:
            log.info("training images cached in memory (decoded and resized once)")
    trainer = Trainer(cfg, model, names, train_set, evaluator, run_dir, device, dist, hooks, state)
    if dist.is_main:
        log.info(
            "training %s (%s) on %d images, %d classes, %s, %d process(es); batch %d, "
            "accumulate %d (nominal %d); run folder %s",
            model.name,
            model.aux_mode,
            len(train_ds),
            len(names),
            device,
            dist.world_size,
            cfg.data.batch,
            trainer.accumulate,
            cfg.optim.nominal_batch,
            run_dir,
        )
    return trainer.fit()


def _label_sizes(ds: DetectionDataset, imgsz: int) -> tuple[list[float], list[int]]:
    """Box sides (square root of the area) at training resolution, and boxes per class."""
    sides: list[float] = []
    counts = [0] * len(ds.names)
    for r in ds.records:
        keep = r.train_mask
        scale = imgsz / max(r.width, r.height)
        wh = (r.boxes[keep, 2:4] - r.boxes[keep, :2]) * scale
        sides += np.sqrt(wh[:, 0] * wh[:, 1]).tolist()
        for c in r.classes[keep]:
            counts[int(c)] += 1
    return sides, counts


def _label_plot(ds: DetectionDataset, run_dir: Path) -> None:
    from yolov9.utils.plots import plot_labels

    boxes, classes = [], []
    for r in ds.records:
        keep = r.train_mask
        b = r.boxes[keep]
        wh = np.array([r.width, r.height, r.width, r.height], np.float32)
        xywh = (
            np.stack(
                [
                    (b[:, 0] + b[:, 2]) / 2,
                    (b[:, 1] + b[:, 3]) / 2,
                    b[:, 2] - b[:, 0],
                    b[:, 3] - b[:, 1],
                ],
                1,
            )
            / wh
            if len(b)
            else np.zeros((0, 4))
        )
        boxes.append(xywh)
        classes.append(r.classes[keep])
    plot_labels(
        np.concatenate(boxes), np.concatenate(classes).astype(int), ds.names, run_dir / "labels.png"
    )
