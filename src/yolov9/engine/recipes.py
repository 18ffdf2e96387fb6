"""Choosing the training recipe for the run at hand.

The paper's recipe (SGD 0.01, nominal batch 64, heavy augmentation, 3 warm-up epochs) was
made for COCO: ~118k images for 500 epochs, about 900k optimiser steps. On a few hundred
images for tens of epochs it takes a few hundred steps, spends most of them warming up, and
barely learns (measured: see docs/benchmarks.md). ``recipe=auto`` (the default) keeps the
paper's recipe for long schedules and switches short ones to a recipe that learns in that
budget: AdamW with a small learning rate, no gradient accumulation, a short warm-up, and
lighter augmentation for small datasets. Values the user set explicitly always win.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from yolov9.config import TrainConfig
from yolov9.engine.optim import accumulation_steps

LONG_SCHEDULE_STEPS = 10_000  # optimiser steps from which the paper's recipe is kept


@dataclass(frozen=True)
class RecipeChoice:
    name: str  # "paper" or "short"
    reason: str
    values: dict[str, Any] = field(default_factory=dict)  # "section.key" -> value applied

    def line(self) -> str:
        changes = ", ".join(f"{k}={v}" for k, v in self.values.items())
        return f"recipe {self.name}: {self.reason}" + (f" ({changes})" if changes else "")


def optimizer_steps(cfg: TrainConfig, num_images: int) -> int:
    batches = math.ceil(num_images / cfg.data.batch)
    return math.ceil(
        cfg.epochs * batches / accumulation_steps(cfg.data.batch, cfg.optim.nominal_batch)
    )


def short_recipe(cfg: TrainConfig, num_images: int) -> dict[str, Any]:
    """AdamW at 2e-3, no accumulation, a warm-up over a sixth of the run (1 to 5 epochs, without
    the reference's floor of 100 iterations, which stretched the demo's warm-up to 10 of its
    30 epochs), and for small datasets no MixUp or copy-paste and milder scaling.

    Biases keep the paper's warm-up start of 0.1 (50x AdamW's rate, falling to it over the
    warm-up): measured on the small-data benchmark, starting them at 0 like the weights cost
    0.03-0.06 AP50-95 after 30 epochs, and a 3-epoch warm-up 0.03 (docs/benchmarks.md)."""
    values: dict[str, Any] = {
        "optim.optimizer": "adamw",
        "optim.lr0": 0.002,
        "optim.momentum": 0.9,
        "optim.nominal_batch": cfg.data.batch,
        "optim.warmup_epochs": float(min(5, max(1, round(cfg.epochs / 6)))),
        "optim.warmup_min_iters": 0,
        "augment.close_mosaic": min(cfg.augment.close_mosaic, max(cfg.epochs // 6, 1)),
    }
    if num_images < 2000:
        values.update({"augment.mixup": 0.0, "augment.scale": 0.5, "augment.copy_paste": 0.0})
    return values


def choose_recipe(cfg: TrainConfig, num_images: int) -> RecipeChoice:
    """The recipe for this run; ``cfg.recipe`` is ``auto``, ``paper`` or ``short``."""
    steps = optimizer_steps(cfg, num_images)
    if cfg.recipe == "paper":
        return RecipeChoice("paper", "the paper's recipe, as asked")
    if cfg.recipe == "auto" and steps >= LONG_SCHEDULE_STEPS:
        return RecipeChoice("paper", f"{steps} optimiser steps is a long schedule")
    values = short_recipe(cfg, num_images)
    values = {k: v for k, v in values.items() if k not in cfg.explicit}
    why = (
        f"{num_images} images x {cfg.epochs} epochs is {steps} optimiser steps with the paper's "
        f"recipe, too few for it (it was made for ~900k); --recipe paper keeps it"
    )
    if cfg.recipe == "short":
        why = "short-schedule recipe, as asked"
    return RecipeChoice("short", why, values)


def apply_recipe(cfg: TrainConfig, choice: RecipeChoice) -> TrainConfig:
    """``cfg`` with the chosen values and the concrete recipe name (so that a resumed run does
    not choose again)."""
    return cfg.with_values({**choice.values, "recipe": choice.name})


def run_warnings(
    cfg: TrainConfig,
    num_images: int,
    box_sides: list[float],
    class_counts: list[int],
    names: list[str],
) -> list[str]:
    """Plain-language warnings for runs that are unlikely to learn."""
    out = []
    steps = optimizer_steps(cfg, num_images)
    if cfg.recipe == "paper" and steps < 2000:
        out.append(
            f"only {steps} optimiser steps with the paper's recipe: expect little learning "
            "(the paper takes ~900k); drop --recipe paper or train longer"
        )
    if steps < 100:
        out.append(f"only {steps} optimiser steps in total: train for more epochs")
    missing = [n for n, c in zip(names, class_counts, strict=True) if c == 0]
    if missing:
        out.append(
            f"{len(missing)} of {len(names)} classes have no training box ({', '.join(missing[:5])}"
            f"{' ...' if len(missing) > 5 else ''}): check that the labels use these class ids"
        )
    if box_sides:
        sides = sorted(box_sides)
        median = sides[len(sides) // 2]
        if median < 8:
            out.append(
                f"half of the boxes are under {median:.1f} px at imgsz {cfg.data.imgsz}: "
                "too small to learn well; use a larger --imgsz"
            )
        elif median > 0.8 * cfg.data.imgsz:
            out.append(
                f"half of the boxes are over {median:.0f} px at imgsz {cfg.data.imgsz}: "
                "objects fill the images; a smaller --imgsz trains faster"
            )
    return out
