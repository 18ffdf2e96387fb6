"""The reference's language step (``optim.language_step``), built apart from the loop.

The authors train a caption model with two steps per batch: a vision step on the augmented
images (mosaic) with the detection terms, and a language step on the same images plain with
the caption term alone, the caption head in an optimiser of its own (``language_lr`` x lr0,
the final LR factor twice the vision one's ``lrf``, no warm-up, its gradients clipped apart).
The backbone and neck learn from both terms through the vision optimiser. Here the language
step runs first in each batch, so the backbone's caption gradient joins the same batch's
vision step (the authors' order leaves it for the next batch's) and no gradient outlives a
batch, which keeps a resume exact; both optimisers step at the same accumulation points.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from yolov9.config import LossConfig, TrainConfig
from yolov9.engine.optim import build_optimizer, lr_factor
from yolov9.models import YOLOv9
from yolov9.tasks.base import Task


@dataclass
class LanguageStep:
    """What the loop needs for the language step (module docstring)."""

    optimizer: torch.optim.Optimizer  # the caption head's parameters only
    schedule: Callable[[float], float]  # its LR factor at a (fractional) epoch
    vision: nn.Module  # the vision step's criterion: the task's terms without the caption
    language: nn.Module  # the language step's criterion: the caption term alone
    head: list[nn.Parameter]  # the caption head's parameters, clipped apart
    rest: list[nn.Parameter]  # every other parameter


def build_language_step(
    model: YOLOv9,
    cfg: TrainConfig,
    loss: LossConfig,
    *,
    vision: Task,
    language: Task,
    weight_decay: float,
) -> LanguageStep:
    """The language step of ``model`` (a caption model): ``vision`` and ``language`` are the
    tasks whose criteria the two steps use (detection and captioning for a caption model)."""
    head = model.caption
    if head is None:
        raise ValueError("the language step needs a caption model")
    o = cfg.optim
    optimizer = build_optimizer(head, o.optimizer, o.lr0 * o.language_lr, o.momentum, weight_decay)
    head_ids = {id(p) for p in head.parameters()}
    no_boxes = dataclasses.replace(loss, box=0.0, cls=0.0, dfl=0.0)
    return LanguageStep(
        optimizer=optimizer,
        schedule=lr_factor(o.schedule, cfg.epochs, min(o.lrf * 2, 1.0)),
        vision=vision.criterion(model, loss),
        language=language.criterion(model, no_boxes),
        head=[p for p in head.parameters() if p.requires_grad],
        rest=[p for p in model.parameters() if p.requires_grad and id(p) not in head_ids],
    )
