"""Building everything a training run needs from a resolved config, apart from the loop that
runs it (:class:`~yolov9.engine.trainer.Trainer`). :func:`build_training` reads the config;
each part is made by a small function that takes plain values (or one config section), so a
part can be built and tested on its own."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from yolov9.checkpoints import LoadedWeights, load_weights
from yolov9.config import LossConfig, TrainConfig
from yolov9.data.augment import AugmentConfig
from yolov9.data.dataset import DetectionDataset
from yolov9.data.mixture import MixtureDataset
from yolov9.data.panoptic_training import SemanticSource
from yolov9.data.train_dataset import TrainBatch, TrainDataset
from yolov9.engine.all_validator import AllTasksValidator
from yolov9.engine.caption_build import TrainSet, caption_parts, caption_run
from yolov9.engine.caption_validator import CaptionValidator
from yolov9.engine.ema import ModelEMA
from yolov9.engine.evaluator import Evaluator
from yolov9.engine.hooks import Hook
from yolov9.engine.language_step import LanguageStep
from yolov9.engine.mixture_build import mixture_set
from yolov9.engine.optim import accumulation_steps, build_optimizer, lr_factor
from yolov9.engine.panoptic_validator import PanopticValidator
from yolov9.engine.recompute import apply_recompute
from yolov9.engine.training_data import TrainingData
from yolov9.errors import ConfigError
from yolov9.loss import Criterion
from yolov9.models import YOLOv9, build_model, parse_model_name
from yolov9.tasks.base import Task
from yolov9.tasks.registry import get_task
from yolov9.utils.device import cpu_has_native_bf16, default_workers
from yolov9.utils.dist import DistInfo

log = logging.getLogger(__name__)

Loader = Callable[[int], DataLoader[TrainBatch]]  # epoch -> that epoch's batches


@dataclass
class TrainingParts:
    """Everything the training loop runs."""

    cfg: TrainConfig
    names: list[str]
    task: Task  # the model's: its loss terms
    fitness: str  # the validation figure that picks the best epoch
    model: YOLOv9  # on the device, channels-last, in train mode
    net: nn.Module  # what the loop calls: the model, or its DDP wrapper
    criterion: Criterion
    optimizer: torch.optim.Optimizer
    schedule: Callable[[float], float]  # LR factor at a (fractional) epoch
    accumulate: int  # batches per optimiser step after warm-up
    ema: ModelEMA
    scaler: torch.amp.GradScaler | None  # fp16 only
    autocast_dtype: torch.dtype | None  # None: fp32
    train_set: TrainSet
    loader: Loader
    # rank 0 with a validation split only
    evaluator: Evaluator | PanopticValidator | CaptionValidator | AllTasksValidator | None
    hooks: list[Hook]
    run_dir: Path
    device: torch.device
    dist: DistInfo
    stuff_names: list[str] = field(default_factory=list)  # panoptic: the channels after names
    language: LanguageStep | None = None  # caption models with optim.language_step


def check_model_name(name: str) -> None:
    """Refuse an unknown model name: cheap, so that a run checks it before reading any data
    or making its run folder."""
    parse_model_name(name)


def build_training(
    cfg: TrainConfig,
    data: TrainingData,
    *,
    device: torch.device,
    dist: DistInfo,
    run_dir: Path,
    hooks: Sequence[Hook] = (),
    fresh: bool = True,
    vocabulary: bytes | None = None,
) -> TrainingParts:
    """The parts of a run; ``fresh=False`` (a resumed run) skips the fine-tuning transfer,
    which the saved state replaces anyway; ``vocabulary``: a resumed caption run's."""
    stuff = len(data.stuff_names) if data.panoptic is not None else None
    task = get_task(parse_model_name(cfg.model.name).task)
    start = load_weights(cfg.model.weights) if cfg.model.weights and fresh else None
    if start is not None and start.model.caption is not None:
        vocabulary = start.model.caption.vocabulary() or None
    cap = (
        caption_parts(cfg, data, task, vocabulary=vocabulary, device=device, is_main=dist.is_main)
        if task.gives("caption")
        else None
    )
    model = build_model(
        cfg.model.name,
        len(data.names),
        aux=cfg.model.aux,
        stuff_classes=stuff,
        caption=cap.spec if cap else None,
        vocabulary=cap.tokenizer.model_bytes if cap else None,
    )
    if start is not None:
        transfer_weights(model, start)
    # channels-last: oneDNN's (and cuDNN's) convolutions train about 25 % faster on it
    model = model.to(device=device, memory_format=torch.channels_last).train()
    ema = ModelEMA(model, cfg.ema_decay, cfg.ema_tau)  # a plain copy, before recompute wraps
    if (wrapped := apply_recompute(model, cfg.model.recompute)) and dist.is_main:
        log.info("recomputing the activations of %d parts in the backward pass", wrapped)
    accumulate = accumulation_steps(cfg.data.batch, cfg.optim.nominal_batch)
    o = cfg.optim
    weight_decay = o.weight_decay * cfg.data.batch * accumulate / o.nominal_batch
    autocast = autocast_dtype(cfg.precision, device)
    use_scaler = autocast == torch.float16
    d = cfg.data
    semantic = data.panoptic.source if data.panoptic and task.gives("semantic") else None
    # the training samples of a dataset (a mixture's member, or the run's own)
    samples = functools.partial(
        training_set, imgsz=d.imgsz, augment=cfg.augment, seed=cfg.seed, cache=d.cache
    )
    vision = functools.partial(
        samples,
        data.train,
        masks=task.needs("masks"),  # label maps: no objects, so no masks, and no boxes
        semantic=semantic,
    )
    train_set: TrainSet
    evaluator: Evaluator | PanopticValidator | CaptionValidator | AllTasksValidator | None
    language = None
    skip = None  # the parameters of the main optimiser: all but the language step's
    if data.members:  # a mixture: each batch one member's, with the terms its labels allow
        train_set = mixture_set(
            data, task, cfg.model.name, vision=samples, cap=cap, language_step=o.language_step
        )
    elif cap is not None:  # captions: the caption head's samples and schedule
        run = caption_run(cfg, data, task, cap, model, vision, weight_decay=weight_decay)
        train_set, language = run.train_set, run.language
        skip = model.caption if language is not None else None
    elif o.language_step == "on":
        raise ConfigError("optim.language_step: only caption models have a language step")
    else:
        train_set = vision()
    if cap is not None:  # the caption parts' validator (every task of all-task data)
        evaluator = cap.validator
    elif dist.is_main:
        evaluator = validation(data, task, d.imgsz, d.val_batch, workers=d.workers, device=device)
    else:
        evaluator = None
    return TrainingParts(
        cfg=cfg,
        names=data.names,
        task=task,
        fitness=evaluator.fitness
        if isinstance(evaluator, PanopticValidator | CaptionValidator | AllTasksValidator)
        else task.fitness,
        model=model,
        # a language step, or a mixture's batches without some labels: heads without gradient
        net=distributed(
            model,
            dist,
            device,
            sync_bn=cfg.sync_bn,
            unused=language is not None or bool(data.members),
        ),
        criterion=criterion(cap.loss if cap else cfg.loss, model).to(device),
        optimizer=build_optimizer(model, o.optimizer, o.lr0, o.momentum, weight_decay, skip=skip),
        schedule=lr_factor(o.schedule, cfg.epochs, o.lrf),
        accumulate=accumulate,
        ema=ema,
        scaler=torch.amp.GradScaler(device.type) if use_scaler else None,
        autocast_dtype=autocast,
        train_set=train_set,
        loader=functools.partial(
            train_loader,
            train_set,
            batch=max(cfg.data.batch // dist.world_size, 1),
            workers=default_workers(cfg.data.workers),
            dist=dist,
            seed=cfg.seed,
            pin_memory=device.type == "cuda",
        ),
        evaluator=evaluator,
        hooks=list(hooks),
        run_dir=run_dir,
        device=device,
        dist=dist,
        stuff_names=data.stuff_names if semantic is not None else [],
        language=language,
    )


def criterion(loss: LossConfig, model: YOLOv9) -> nn.Module:
    """The PGI dual criterion (main + ``aux_weight`` x auxiliary head) of ``model``'s task
    (``Task.criterion``: detection, or detection plus the mask term for segmentation)."""
    return get_task(model.task).criterion(model, loss)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """auto: fp16 AMP on CUDA; bf16 autocast on CPUs with native bf16 (measured: same AP as
    fp32 on the synthetic benchmark, ~30 % faster); fp32 elsewhere."""
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None
    if precision == "fp16":
        if device.type != "cuda":
            raise ConfigError("precision fp16 needs CUDA; use bf16 or fp32 on this device")
        return torch.float16
    return torch.bfloat16 if precision == "bf16" else None


def training_set(
    dataset: DetectionDataset,
    imgsz: int,
    augment: AugmentConfig,
    *,
    seed: int,
    cache: str,
    masks: bool = False,
    semantic: SemanticSource | None = None,
    augmented: bool = True,
) -> TrainDataset:
    """Augmented training samples (with their instance masks for segmentation, and their
    semantic targets for panoptic models), the images cached in memory when they fit
    (``cache``: auto, ram or none); ``augmented=False``: letterboxed only."""
    train_set = TrainDataset(
        dataset.records,
        imgsz,
        augment,
        seed=seed,
        masks=masks,
        semantic=semantic,
        augment=augmented,
    )
    if cache != "none":
        budget = 2 << 30 if cache == "auto" else 1 << 62
        if train_set.cache_images(budget):
            log.info("training images cached in memory (decoded and resized once)")
    return train_set


def validation(
    data: TrainingData,
    task: Task,
    imgsz: int,
    batch: int,
    *,
    workers: int,
    device: torch.device,
) -> Evaluator | PanopticValidator | None:
    """The per-epoch evaluator of the validation split (None: there is none): the reference's
    COCO protocol, or PQ and mIoU for a panoptic model on panoptic data."""
    if data.panoptic_val is not None and task.gives("semantic"):
        return PanopticValidator(
            data.panoptic_val, imgsz=imgsz, batch_size=batch, workers=workers, device=device
        )
    if data.val is None:
        return None
    return Evaluator(
        data.val, imgsz=imgsz, batch_size=batch, workers=workers, device=device, progress=True
    )


def distributed(
    model: YOLOv9, dist: DistInfo, device: torch.device, *, sync_bn: bool, unused: bool = False
) -> nn.Module:
    """``model`` wrapped for DDP when running in several processes (SyncBatchNorm on CUDA);
    ``unused``: some forwards leave parameters without a gradient (the language step's)."""
    if not dist.enabled:
        return model
    net: nn.Module = model
    if sync_bn and device.type == "cuda":
        net = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids, find_unused_parameters=unused)


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(0)  # one image per worker: no thread pools fighting for the cores
    torch.set_num_threads(1)


def train_loader(
    train_set: TrainSet,
    epoch: int,
    *,
    batch: int,
    workers: int,
    dist: DistInfo,
    seed: int,
    pin_memory: bool,
) -> DataLoader[TrainBatch]:
    """The batches of one epoch: shuffled by (seed, epoch), sharded over the processes (a
    mixture's: each of one member, :meth:`~yolov9.data.mixture.MixtureDataset.batches`)."""
    order: dict[str, Any]
    if isinstance(train_set, MixtureDataset):
        batches = train_set.batches(
            batch, seed=seed, epoch=epoch, rank=dist.rank, world_size=dist.world_size
        )
        order = {"batch_sampler": batches}
    else:
        sampler = None
        if dist.enabled:
            sampler = DistributedSampler(
                train_set, dist.world_size, dist.rank, shuffle=True, seed=seed
            )
            sampler.set_epoch(epoch)
        order = {
            "batch_size": batch,
            "shuffle": sampler is None,
            "sampler": sampler,
            "generator": torch.Generator().manual_seed(seed + epoch),
        }
    return DataLoader(
        train_set,  # type: ignore[arg-type]
        **order,
        num_workers=workers,
        collate_fn=train_set.collate,
        worker_init_fn=_worker_init if workers else None,
        persistent_workers=False,
        pin_memory=pin_memory,
    )


def transfer_weights(model: YOLOv9, start: LoadedWeights) -> None:
    """Start from any readable checkpoint (read once by the caller): copy every tensor whose
    name and shape match.

    A different class count re-initialises the class outputs; a checkpoint without the
    auxiliary branch leaves a fresh one.
    """
    source = start.model.state_dict()
    target = model.state_dict()
    matched = {k: v for k, v in source.items() if k in target and v.shape == target[k].shape}
    model.load_state_dict(matched, strict=False)
    fresh = [k for k in target if k not in matched]
    log.info("started from %s: %d/%d tensors transferred", start.path, len(matched), len(target))
    if fresh:
        parts = sorted({".".join(k.split(".")[: 3 if k.startswith("aux.") else 2]) for k in fresh})
        log.info("  newly initialised: %d tensors in %s", len(fresh), ", ".join(parts))
