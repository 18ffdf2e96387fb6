"""The training loop, readable top to bottom.

    for each epoch:
        mosaic off for the last ``close_mosaic`` epochs; LR = lr0 * schedule(epoch)
        for each batch:
            warm-up (LR, momentum, accumulation) during the first iterations
            forward under autocast -> loss (main + 0.25 aux) -> non-finite guard -> backward
            every ``accumulate`` batches: unscale, clip, step, update scaler and EMA
        validate the EMA model (metrics and both heads' losses), save last/best atomically
    write the best checkpoint again without the auxiliary branch

Only rank 0 validates, logs and saves; every rank trains (DDP).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from yolov9.config import TrainConfig
from yolov9.data.train_dataset import TrainDataset, collate_train
from yolov9.engine.ema import ModelEMA
from yolov9.engine.evaluator import Evaluator
from yolov9.engine.hooks import Hook
from yolov9.engine.optim import (
    accumulation_steps,
    apply_warmup,
    build_optimizer,
    lr_factor,
    warmup_iterations,
)
from yolov9.engine.train_state import save_training_checkpoint
from yolov9.errors import YOLOv9Error
from yolov9.loss import YOLOv9Loss
from yolov9.models import YOLOv9
from yolov9.utils.device import cpu_has_native_bf16, default_workers
from yolov9.utils.dist import DistInfo, broadcast_flag

log = logging.getLogger(__name__)


class TrainingError(YOLOv9Error):
    """Training cannot continue (e.g. the loss diverged)."""


@dataclass
class TrainResult:
    run_dir: Path
    last: Path
    best: Path | None
    best_converted: Path | None
    best_metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(0)  # one image per worker: no thread pools fighting for the cores
    torch.set_num_threads(1)


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        model: YOLOv9,
        names: Sequence[str],
        train_set: TrainDataset,
        evaluator: Evaluator | None,
        run_dir: Path,
        device: torch.device,
        dist: DistInfo,
        hooks: Sequence[Hook] = (),
        resume: dict[str, Any] | None = None,
    ) -> None:
        self.cfg, self.names, self.train_set, self.evaluator = (
            cfg,
            list(names),
            train_set,
            evaluator,
        )
        self.run_dir, self.device, self.dist, self.hooks = run_dir, device, dist, list(hooks)
        lc = cfg.loss
        self.criterion = YOLOv9Loss(
            model.num_classes,
            reg_max=model.reg_max,
            box_gain=lc.box,
            cls_gain=lc.cls,
            dfl_gain=lc.dfl,
            aux_weight=lc.aux_weight,
            topk=lc.topk,
            alpha=lc.alpha,
            beta=lc.beta,
            resolve_among_candidates=lc.resolve_among_candidates,
        ).to(device)
        self.batch = max(cfg.data.batch // dist.world_size, 1)  # per process
        oc = cfg.optim
        self.accumulate = accumulation_steps(cfg.data.batch, oc.nominal_batch)
        weight_decay = oc.weight_decay * cfg.data.batch * self.accumulate / oc.nominal_batch
        # channels-last: oneDNN's (and cuDNN's) convolutions train about 25 % faster on it
        self.model = model.to(device=device, memory_format=torch.channels_last).train()
        self.ema = ModelEMA(self.model, cfg.ema_decay, cfg.ema_tau)
        self.optimizer = build_optimizer(
            self.model, oc.optimizer, oc.lr0, oc.momentum, weight_decay
        )
        self.lf = lr_factor(oc.schedule, cfg.epochs, oc.lrf)
        self.autocast_dtype = self._autocast_dtype(cfg.precision)
        use_scaler = self.autocast_dtype == torch.float16
        self.scaler = torch.amp.GradScaler(device.type, enabled=use_scaler) if use_scaler else None
        self.start_epoch, self.best_fitness = 0, -1.0
        self.stale = 0  # epochs since the best AP, for early stopping; survives resume
        if resume is not None:
            self._restore(resume)
        self.net: nn.Module = self.model
        if dist.enabled:
            if cfg.sync_bn and device.type == "cuda":
                self.net = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            ids = [device.index] if device.type == "cuda" else None
            self.net = DistributedDataParallel(self.net, device_ids=ids)
        self.history: list[dict[str, float]] = []
        self.problem_files: set[str] = set()
        self.bad_steps = 0  # consecutive non-finite losses

    def _autocast_dtype(self, precision: str) -> torch.dtype | None:
        """auto: fp16 AMP on CUDA; bf16 autocast on CPUs with native bf16 (measured: same AP
        as fp32 on the synthetic benchmark, ~30 % faster); fp32 elsewhere."""
        if precision == "auto":
            if self.device.type == "cuda":
                return torch.float16
            return torch.bfloat16 if self.device.type == "cpu" and cpu_has_native_bf16() else None
        if precision == "fp16":
            if self.device.type != "cuda":
                raise YOLOv9Error("precision fp16 needs CUDA; use bf16 or fp32 on this device")
            return torch.float16
        return torch.bfloat16 if precision == "bf16" else None

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.model.load_state_dict(state["ema"])
        self.ema.updates = int(state["ema_updates"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.start_epoch = int(state["epoch"]) + 1
        self.best_fitness = float(state["best_fitness"])
        self.stale = int(state.get("stale_epochs", 0))
        torch.set_rng_state(state["torch_rng"])

    # ------------------------------------------------------------------------------ loop
    def fit(self) -> TrainResult:
        cfg = self.cfg
        for hook in self.hooks:
            hook.on_train_start({"config": cfg.to_dict()})
        for epoch in range(self.start_epoch, cfg.epochs):
            record = self._train_epoch(epoch)
            stop = False
            if self.dist.is_main:
                validate = (epoch + 1) % cfg.val_every == 0 or epoch == cfg.epochs - 1
                if validate and self.evaluator is not None:
                    record.update(self._validate())
                fitness = record.get("AP", -1.0)
                # without a validation split the latest epoch is the best we know
                improved = fitness > self.best_fitness or self.evaluator is None
                self.best_fitness = max(self.best_fitness, fitness)
                self.stale = 0 if improved else self.stale + 1
                self._save(epoch, record, improved)
                self.history.append(record)
                for hook in self.hooks:
                    hook.on_epoch_end(record)
                log.info(self._summary(record))
                stop = self.stale >= cfg.patience
                if stop:
                    log.info("no better AP for %d epochs: stopping early", cfg.patience)
            if broadcast_flag(stop, self.dist, self.device):
                break
        return self._finish()

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        cfg, model, opt = self.cfg, self.model, self.optimizer
        mosaic = epoch < cfg.epochs - cfg.augment.close_mosaic
        self.train_set.set_epoch(epoch, mosaic=mosaic)
        loader = self._loader(epoch)
        nb = len(loader)
        nw = warmup_iterations(cfg.optim.warmup_epochs, nb)
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] * self.lf(epoch)
        model.train()
        sums: dict[str, float] = {}
        seen = 0
        accumulate, last_step = self.accumulate, -1
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=None if self.dist.is_main else True,
            unit="batch",
            leave=False,
        )
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        for i, batch in enumerate(bar):
            ni = i + nb * epoch
            if ni <= nw:
                accumulate = apply_warmup(
                    opt,
                    ni,
                    nw,
                    self.lf(epoch),
                    bias_lr=cfg.optim.warmup_bias_lr,
                    momentum=(cfg.optim.warmup_momentum, cfg.optim.momentum),
                    accumulate=(1, max(round(cfg.optim.nominal_batch / cfg.data.batch), 1)),
                )
            self._note_problems(batch.problems)
            images = batch.images.to(self.device, non_blocking=True).float().div_(255.0)
            dtype = self.autocast_dtype
            with torch.autocast(
                self.device.type, dtype or torch.float32, enabled=dtype is not None
            ):
                out = self.net(images)
            loss = self.criterion(out, batch.targets.to(self.device))
            total = loss.total * self.dist.world_size  # DDP averages gradients
            if not torch.isfinite(total):
                self._non_finite()
                opt.zero_grad(set_to_none=True)
                continue
            self.bad_steps = 0
            seen += images.shape[0]
            (self.scaler.scale(total) if self.scaler else total).backward()
            if i - last_step >= accumulate or i == nb - 1:  # the epoch's tail is not carried over
                self._step()
                last_step = i
            for k in ("box", "cls", "dfl"):
                sums[k] = sums.get(k, 0.0) + loss.parts[k]
            bar.set_postfix({k: f"{v / (i + 1):.3f}" for k, v in sums.items()})
        bar.close()
        record: dict[str, float] = {"epoch": float(epoch), "lr": opt.param_groups[1]["lr"]}
        record.update({f"train/{k}": v / max(nb, 1) for k, v in sums.items()})
        record["time"] = time.perf_counter() - start
        record["images_per_s"] = seen * self.dist.world_size / max(record["time"], 1e-9)
        return record

    def _step(self) -> None:
        opt = self.optimizer
        if self.scaler is not None:
            self.scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(
            self.model.parameters(), max_norm=self.cfg.optim.grad_clip, foreach=True
        )
        if self.scaler is not None:
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)
        self.ema.update(self.model)

    def _non_finite(self) -> None:
        """Skip the batch; after 3 in a row leave mixed precision, after 10 stop."""
        self.bad_steps += 1
        bad_steps = self.bad_steps
        if bad_steps == 3 and self.autocast_dtype is not None:
            log.warning(
                "non-finite loss 3 times in a row under %s autocast: continuing in fp32",
                self.autocast_dtype,
            )
            self.autocast_dtype, self.scaler = None, None
        elif bad_steps >= 10:
            raise TrainingError(
                "the loss was not finite 10 times in a row: training diverged "
                "(try a lower optim.lr0 or check the labels)"
            )
        else:
            log.warning("non-finite loss: batch skipped")

    def _loader(self, epoch: int) -> DataLoader:
        sampler = None
        if self.dist.enabled:
            sampler = DistributedSampler(
                self.train_set,
                self.dist.world_size,
                self.dist.rank,
                shuffle=True,
                seed=self.cfg.seed,
            )
            sampler.set_epoch(epoch)
        generator = torch.Generator().manual_seed(self.cfg.seed + epoch)
        workers = default_workers(self.cfg.data.workers)
        return DataLoader(
            self.train_set,
            batch_size=self.batch,
            shuffle=sampler is None,
            sampler=sampler,
            generator=generator,
            num_workers=workers,
            collate_fn=collate_train,
            worker_init_fn=_worker_init if workers else None,
            persistent_workers=False,
            pin_memory=self.device.type == "cuda",
        )

    def _note_problems(self, problems: list[str]) -> None:
        for p in problems:
            if p not in self.problem_files:
                self.problem_files.add(p)
                log.warning("skipped an unreadable training image (another was used): %s", p)

    # ---------------------------------------------------------------------- validation
    def _validate(self) -> dict[str, float]:
        assert self.evaluator is not None
        result = self.evaluator.run(self.ema.model.eval(), criterion=self.criterion, prepared=True)
        m = result.metrics
        out = {"AP": m.AP, "AP50": m.AP50, "AP75": m.AP75, "APs": m.APs, "APm": m.APm, "APl": m.APl}
        for k, v in (result.losses or {}).items():
            if "/" in k:
                out[f"val/{k}"] = v
        return out

    def _summary(self, r: dict[str, float]) -> str:
        text = (
            f"epoch {int(r['epoch']) + 1}/{self.cfg.epochs}: loss box {r.get('train/box', 0):.3f} "
            f"cls {r.get('train/cls', 0):.3f} dfl {r.get('train/dfl', 0):.3f}"
        )
        if "AP" in r:
            text += f" | val AP {r['AP']:.4f} AP50 {r['AP50']:.4f}"
        if "val/main/box" in r:
            text += (
                f" | val loss main {r['val/main/box'] + r['val/main/cls'] + r['val/main/dfl']:.3f}"
            )
        if "val/aux/box" in r:
            text += f" aux {r['val/aux/box'] + r['val/aux/cls'] + r['val/aux/dfl']:.3f}"
        return text + f" | {r['time']:.0f} s"

    # ---------------------------------------------------------------------- checkpoints
    def _meta(self, epoch: int, record: dict[str, float]) -> dict[str, Any]:
        metrics = {k: v for k, v in record.items() if k in ("AP", "AP50", "AP75")}
        return {
            "imgsz": self.cfg.data.imgsz,
            "config": self.cfg.to_dict(),
            "epoch": epoch,
            "metrics": metrics,
        }

    def _save(self, epoch: int, record: dict[str, float], is_best: bool) -> None:
        kwargs = {
            "ema_model": self.ema.model,
            "model": self.model,
            "names": self.names,
            "meta": self._meta(epoch, record),
            "optimizer": self.optimizer,
            "scaler": self.scaler,
            "ema_updates": self.ema.updates,
            "epoch": epoch,
            "best_fitness": self.best_fitness,
            "stale_epochs": self.stale,
        }
        weights = self.run_dir / "weights"
        save_training_checkpoint(weights / "last.pt", **kwargs)
        if is_best:
            save_training_checkpoint(weights / "best.pt", **kwargs)

    def _finish(self) -> TrainResult:
        weights = self.run_dir / "weights"
        best = weights / "best.pt"
        converted = None
        best_metrics: dict[str, float] = {}
        if self.dist.is_main:
            if best.is_file() and self.model.aux is not None:
                from yolov9.engine.convert import convert_checkpoint

                converted = convert_checkpoint(best, weights / "best-converted.pt").output
                log.info("best checkpoint without the auxiliary branch: %s", converted)
            if self.history:
                best_record = max(self.history, key=lambda r: r.get("AP", -1.0))
                best_metrics = {k: v for k, v in best_record.items() if not k.startswith("train/")}
            for hook in self.hooks:
                hook.on_train_end({"best": best_metrics})
        return TrainResult(
            self.run_dir,
            weights / "last.pt",
            best if best.is_file() else None,
            converted,
            best_metrics,
            self.history,
        )
