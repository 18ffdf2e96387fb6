"""The training loop, readable top to bottom.

    for each epoch:
        mosaic off for the last ``close_mosaic`` epochs; LR = lr0 * schedule(epoch)
        for each batch:
            warm-up (LR, momentum, accumulation) during the first iterations
            forward under autocast -> loss (main + 0.25 aux) -> non-finite guard -> backward
            (caption models with a language step: first the caption term on the plain images,
            then the vision terms on the augmented ones, each its own forward and backward)
            every ``accumulate`` batches: unscale, clip, step, update scaler and EMA
        validate the EMA model (metrics and both heads' losses), save last/best atomically
        stop early after ``patience`` epochs without a better AP (decided when validating)
        (the AP that decides is the task's ``fitness``: box AP50-95 for detection, mask
        AP50-95 for segmentation)
    write the best checkpoint again without the auxiliary branch

The parts come built (:func:`yolov9.engine.build.build_training`); the trainer owns the
progress: epoch, best AP and epoch, the history of epoch records, and exposes it with
``state_dict`` / ``load_state_dict`` for exact resumes. Only rank 0 validates, logs and saves;
every rank trains (DDP), and decisions that change the collective flow (skipping a
non-finite batch, stopping) are taken by all ranks together.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from yolov9.checkpoints.native import atomic_write
from yolov9.data.train_dataset import TrainBatch
from yolov9.engine.build import TrainingParts
from yolov9.engine.evaluator import batch_targets
from yolov9.engine.optim import apply_warmup, warmup_iterations
from yolov9.engine.train_state import save_training_checkpoint
from yolov9.errors import YOLOv9Error
from yolov9.utils.dist import all_ranks, barrier, broadcast_flag, broadcast_object
from yolov9.utils.threads import ThreadGovernor

log = logging.getLogger(__name__)


class TrainingError(YOLOv9Error):
    """Training cannot continue (e.g. the loss diverged)."""


@dataclass
class TrainResult:
    run_dir: Path
    last: Path
    best: Path | None
    best_converted: Path | None
    best_metrics: dict[str, float]  # the best epoch's record (over the whole run)
    history: list[dict[str, float]] = field(default_factory=list)  # every epoch of the run
    fitness: str = "AP"  # the validation figure that picked the best epoch


class Trainer:
    def __init__(self, parts: TrainingParts) -> None:
        self.p = parts
        self.terms = parts.task.loss_terms
        self.fitness_key = parts.fitness  # what "best" means
        self.epoch = -1  # last completed epoch
        self.best_fitness = -1.0  # best validation AP so far
        self.best_epoch = -1
        self.history: list[dict[str, float]] = []
        self.bad_steps = 0  # consecutive non-finite losses
        self.governor = ThreadGovernor()
        self.problem_files: set[str] = set()

    # ------------------------------------------------------------------------- state
    def state_dict(self, *, ema: bool = True) -> dict[str, Any]:
        """Everything an exact resume needs (tensors, numbers and lists only). ``ema=False``
        leaves out the EMA weights (a training checkpoint stores them as its model)."""
        p = self.p
        state = {
            "model": {k: v.detach().cpu() for k, v in p.model.state_dict().items()},
            "ema_updates": p.ema.updates,
            "optimizer": p.optimizer.state_dict(),
            "scaler": p.scaler.state_dict() if p.scaler is not None else {},
            "epoch": self.epoch,
            "best_fitness": self.best_fitness,
            "best_epoch": self.best_epoch,
            "history": [dict(r) for r in self.history],
            "torch_rng": torch.get_rng_state(),
        }
        if p.language is not None:
            state["language_optimizer"] = p.language.optimizer.state_dict()
        if ema:
            state["ema"] = {k: v.detach().cpu() for k, v in p.ema.model.state_dict().items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the progress and the optimiser's state (its moments and step counts); its
        hyper-parameters stay those the parts were built with, so values changed on resume
        (``lr0``, ``weight_decay``, ``momentum`` ...) take effect."""
        p = self.p
        p.model.load_state_dict(state["model"])
        p.ema.model.load_state_dict(state["ema"])
        p.ema.updates = int(state["ema_updates"])
        _load_optimizer(p.optimizer, state["optimizer"])
        if p.language is not None:
            if "language_optimizer" not in state:
                raise TrainingError(
                    "this run was saved without a language step (optim.language_step): "
                    "resume it with optim.language_step=off"
                )
            _load_optimizer(p.language.optimizer, state["language_optimizer"])
        if p.scaler is not None and state.get("scaler"):
            p.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.best_fitness = float(state["best_fitness"])
        self.best_epoch = int(state["best_epoch"])
        self.history = [dict(r) for r in state["history"]]
        torch.set_rng_state(state["torch_rng"])

    # -------------------------------------------------------------------------- loop
    def fit(self) -> TrainResult:
        cfg, dist = self.p.cfg, self.p.dist
        for hook in self.p.hooks:
            hook.on_train_start({"config": cfg.to_dict(), "start_epoch": self.epoch + 1})
        for epoch in range(self.epoch + 1, cfg.epochs):
            record = self._train_epoch(epoch)
            stop = False
            if dist.is_main:
                validated = (epoch + 1) % cfg.val_every == 0 or epoch == cfg.epochs - 1
                if validated and self.p.evaluator is not None:
                    record.update(self._validate())
                improved = self._track_best(epoch, record)
                self.epoch = epoch
                self.history.append(record)
                self._save(record, improved)
                for hook in self.p.hooks:
                    hook.on_epoch_end(record)
                log.info(self._summary(record))
                stop = self._stale(self.fitness_key in record)
            else:
                self.epoch = epoch
            if broadcast_flag(stop, dist, self.p.device):
                break
        return self._finish()

    def _track_best(self, epoch: int, record: dict[str, float]) -> bool:
        """Whether this epoch is the best so far (without validation: the latest is)."""
        if self.p.evaluator is None:
            self.best_epoch = epoch
            return True
        fitness = record.get(self.fitness_key)
        if fitness is not None and fitness > self.best_fitness:
            self.best_fitness, self.best_epoch = fitness, epoch
            return True
        return False

    def _stale(self, validated: bool) -> bool:
        """Early stopping, decided only on validated epochs: ``patience`` epochs since the
        best AP (an epoch that was not validated cannot count as not improving)."""
        patience = self.p.cfg.patience
        if not validated or patience == 0 or self.p.evaluator is None:
            return False
        if self.epoch - self.best_epoch >= patience:
            log.info("no better AP for %d epochs: stopping early", self.epoch - self.best_epoch)
            return True
        return False

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        p, cfg = self.p, self.p.cfg
        p.train_set.set_epoch(epoch, mosaic=epoch < cfg.epochs - cfg.augment.close_mosaic)
        loader = p.loader(epoch)
        nb = len(loader)
        warmup = warmup_iterations(cfg.optim.warmup_epochs, nb, cfg.optim.warmup_min_iters)
        for group in p.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * p.schedule(epoch)
        if p.language is not None:  # no warm-up: the reference warms the vision step only
            for group in p.language.optimizer.param_groups:
                group["lr"] = group["initial_lr"] * p.language.schedule(epoch)
        p.model.train()
        sums: dict[str, float] = {}
        seen = counted = 0
        accumulate, last_step = p.accumulate, -1
        main = p.dist.is_main
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=None if main else True,
            unit="batch",
            leave=False,
        )
        start = time.perf_counter()
        self._zero_grad()
        for i, batch in enumerate(bar):
            self.governor.poll()  # fewer threads while other processes take cores
            ni = i + nb * epoch
            if ni <= warmup:
                accumulate = self._warmup(ni, warmup, epoch)
            self._note_problems(batch.problems)
            parts = self._forward_backward(batch)
            if parts is None:
                continue
            seen += batch.images.shape[0]
            counted += 1
            if i - last_step >= accumulate or i == nb - 1:  # the epoch's tail is not carried over
                self._step()
                last_step = i
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix({k: f"{sums[k] / counted:.3f}" for k in self.terms})
        bar.close()
        elapsed = time.perf_counter() - start
        record = {"epoch": float(epoch), "lr": p.optimizer.param_groups[1]["lr"]}
        record.update({f"train/{k}": v / max(counted, 1) for k, v in sums.items()})
        record["time"] = elapsed
        record["images_per_s"] = seen * p.dist.world_size / max(elapsed, 1e-9)
        return record

    def _warmup(self, iteration: int, warmup: int, epoch: int) -> int:
        o, batch = self.p.cfg.optim, self.p.cfg.data.batch
        return apply_warmup(
            self.p.optimizer,
            iteration,
            warmup,
            self.p.schedule(epoch),
            bias_lr=o.warmup_bias_lr,
            momentum=(o.warmup_momentum, o.momentum),
            accumulate=(1, max(round(o.nominal_batch / batch), 1)),
        )

    def _forward_backward(self, batch: TrainBatch) -> dict[str, float] | None:
        """Loss and gradients of one batch; None (and no backward on any rank) when the loss
        is not finite on some rank. With a language step: the caption term on the plain
        images (``batch.language``), then the vision terms on the augmented ones."""
        language = self.p.language
        if language is None:
            return self._backward(batch, self.p.criterion)
        assert batch.language is not None, "the language step needs the plain images"
        words = self._backward(batch.language, language.language)
        if words is None:
            return None
        sight = self._backward(batch, language.vision)
        if sight is None:
            return None
        return {**sight, "caption": words["caption"], "main/caption": words["main/caption"]}

    def _backward(self, batch: TrainBatch, criterion: nn.Module) -> dict[str, float] | None:
        """One forward and backward of ``criterion`` (module docstring)."""
        p = self.p
        images = batch.images.to(p.device, non_blocking=True).float().div_(255.0)
        dtype = p.autocast_dtype
        with torch.autocast(p.device.type, dtype or torch.float32, enabled=dtype is not None):
            out = p.net(images, batch.captions)  # captions: caption models (teacher forcing)
        targets = batch_targets(batch)
        loss = criterion(out, targets.to(p.device))
        total = loss.total * p.dist.world_size  # DDP averages gradients
        if not all_ranks(bool(torch.isfinite(total)), p.dist, p.device):
            self._non_finite()
            self._zero_grad()
            return None
        self.bad_steps = 0
        (p.scaler.scale(total) if p.scaler else total).backward()
        return dict(loss.parts)

    def _optimizers(self) -> list[tuple[torch.optim.Optimizer, list[nn.Parameter]]]:
        """Each optimiser with the parameters whose gradient norm is clipped together."""
        p = self.p
        if p.language is None:
            return [(p.optimizer, list(p.model.parameters()))]
        return [(p.optimizer, p.language.rest), (p.language.optimizer, p.language.head)]

    def _zero_grad(self) -> None:
        for optimizer, _ in self._optimizers():
            optimizer.zero_grad(set_to_none=True)

    def _step(self) -> None:
        p = self.p
        for optimizer, params in self._optimizers():
            if p.scaler is not None:
                p.scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(params, max_norm=p.cfg.optim.grad_clip, foreach=True)
            if p.scaler is not None:
                p.scaler.step(optimizer)
            else:
                optimizer.step()
        if p.scaler is not None:
            p.scaler.update()
        self._zero_grad()
        p.ema.update(p.model)

    def _non_finite(self) -> None:
        """Skip the batch; after 3 in a row leave mixed precision, after 10 stop. Every rank
        sees the same sequence (the decision is collective), so every rank decides alike."""
        self.bad_steps += 1
        if self.bad_steps == 3 and self.p.autocast_dtype is not None:
            log.warning(
                "non-finite loss 3 times in a row under %s autocast: continuing in fp32",
                self.p.autocast_dtype,
            )
            self.p.autocast_dtype, self.p.scaler = None, None
        elif self.bad_steps >= 10:
            raise TrainingError(
                "the loss was not finite 10 times in a row: training diverged "
                "(try a lower optim.lr0 or check the labels)"
            )
        else:
            log.warning("non-finite loss: batch skipped")

    def _note_problems(self, problems: list[str]) -> None:
        for problem in problems:
            if problem not in self.problem_files:
                self.problem_files.add(problem)
                log.warning("skipped an unreadable training image (another was used): %s", problem)

    # --------------------------------------------------------------------- validation
    def _validate(self) -> dict[str, float]:
        assert self.p.evaluator is not None
        return self.p.evaluator.record(self.p.ema.model.eval(), self.p.criterion)

    def _summary(self, r: dict[str, float]) -> str:
        terms = self.terms
        text = f"epoch {int(r['epoch']) + 1}/{self.p.cfg.epochs}: loss " + " ".join(
            f"{k} {r.get(f'train/{k}', 0):.3f}" for k in terms
        )
        if "PQ" in r:
            text += f" | val PQ {r['PQ']:.4f}"
        if "mIoU" in r:
            text += f" | mIoU {r['mIoU']:.4f}"
        if "AP" in r:
            text += f" | val AP {r['AP']:.4f} AP50 {r['AP50']:.4f}"
        if "mask/AP" in r:
            text += f" | mask AP {r['mask/AP']:.4f} AP50 {r['mask/AP50']:.4f}"
        if "CIDEr-D" in r:
            text += f" | val CIDEr-D {r['CIDEr-D']:.4f} BLEU-4 {r['BLEU-4']:.4f}"
        for head in ("main", "aux"):  # a head's terms (the auxiliary head has no caption)
            if f"val/{head}/box" in r or f"val/{head}/caption" in r:
                total = sum(r.get(f"val/{head}/{k}", 0.0) for k in terms)
                text += f" | val loss {head} {total:.3f}" if head == "main" else f" aux {total:.3f}"
        return text + f" | {r['time']:.0f} s"

    # -------------------------------------------------------------------- checkpoints
    def _save(self, record: dict[str, float], is_best: bool) -> None:
        p = self.p
        meta = {
            "imgsz": p.cfg.data.imgsz,
            "config": p.cfg.to_dict(),
            "epoch": self.epoch,
            "metrics": {
                k: v
                for k, v in record.items()
                if k
                in (
                    *("AP", "AP50", "AP75", "mask/AP", "mask/AP50", "mask/AP75", "PQ", "mIoU"),
                    *("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D", "all-tasks"),
                )
            },
        }
        if p.stuff_names:
            meta["stuff_names"] = list(p.stuff_names)
        weights = p.run_dir / "weights"
        last = weights / "last.pt"
        save_training_checkpoint(last, p.ema.model, p.names, meta, self.state_dict(ema=False))
        if is_best:
            atomic_write(weights / "best.pt", lambda tmp: shutil.copyfile(last, tmp))

    def best_record(self) -> dict[str, float]:
        """The best epoch's record (validation metrics, without the training losses)."""
        found = [r for r in self.history if int(r["epoch"]) == self.best_epoch]
        return {k: v for k, v in found[-1].items() if not k.startswith("train/")} if found else {}

    def _finish(self) -> TrainResult:
        p = self.p
        weights = p.run_dir / "weights"
        best = weights / "best.pt"
        converted = None
        best_metrics: dict[str, float] = {}
        if p.dist.is_main:
            if best.is_file() and p.model.aux is not None:
                from yolov9.engine.convert import convert_checkpoint

                converted = convert_checkpoint(best, weights / "best-converted.pt").output
                log.info("best checkpoint without the auxiliary branch: %s", converted)
            best_metrics = self.best_record()
            for hook in p.hooks:
                hook.on_train_end({"best": best_metrics})
        # every rank returns rank 0's result, once rank 0 has written every file
        barrier(p.dist)
        converted, best_metrics, history = broadcast_object(
            (converted, best_metrics, self.history), p.dist
        )
        return TrainResult(
            p.run_dir,
            weights / "last.pt",
            best if best.is_file() else None,
            converted,
            best_metrics,
            list(history),
            self.fitness_key,
        )


def _load_optimizer(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """The saved moments and step counts; the hyper-parameters stay those built now."""
    built = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, settings in zip(optimizer.param_groups, built, strict=True):
        group.update(settings)
