"""Panoptic segmentation (issue 3/7, in progress): the authors' ``Panoptic`` head gives boxes,
instance masks and semantic logits over things and stuff in one forward pass.

What works today: the networks (``gelan-x-pan``), reading the authors' checkpoints, and the
instance part of prediction, evaluation and export (as segmentation: the task below is
segmentation's with what differs replaced). Not yet: the semantic map and panoptic fusion in
results, exporting the semantic logits, PQ / mIoU in ``val`` (``metrics.panoptic`` and
``metrics.semantic`` exist), panoptic datasets, and training (its criterion, issue 4/7),
which stops in one line.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from yolov9.config import LossConfig
from yolov9.errors import ConfigError
from yolov9.models import YOLOv9
from yolov9.tasks.segment import SEGMENT


def _criterion(model: YOLOv9, loss: LossConfig) -> nn.Module:
    raise ConfigError(
        f"training {model.name} is not supported yet (the panoptic criterion is issue 4/7); "
        "its instance part trains as a segmentation model: gelan-x-seg"
    )


PANOPTIC = dataclasses.replace(
    SEGMENT,
    name="panoptic",
    description="panoptic segmentation",
    head_kinds=("panoptic",),
    loss_terms=("box", "seg", "cls", "dfl", "focal", "dice"),
    build_criterion=_criterion,
    demo=None,
)
