"""Every task in one network (``yolov9-x-all``): the panoptic task's boxes, instance masks,
semantic map and panoptic segmentation, and the caption task's caption, from one forward pass
of one backbone and neck. The task is the union of the two, not a fork: its criterion is the
panoptic criterion plus the caption term (:class:`~yolov9.loss.AllTasksLoss`), its results
carry both tasks' fields (panoptic post-processing, then the caption the backend decoded), and
its exports carry the panoptic outputs and the caption head's encoded tokens, which the
exported caption decoder (a second graph) turns into the caption."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from yolov9.config import LossConfig
from yolov9.data.images import LetterboxInfo
from yolov9.loss import AllTasksLoss
from yolov9.models import YOLOv9
from yolov9.ops.nms import Detections
from yolov9.tasks.base import DemoSpec, PostprocessOptions, box_criterion_args
from yolov9.tasks.caption import CAPTION, CAPTION_OUTPUTS
from yolov9.tasks.panoptic import PANOPTIC

__all__ = ["ALL"]


def _criterion(model: YOLOv9, loss: LossConfig) -> nn.Module:
    """The panoptic terms plus the caption term; with every box gain 0 the caption term alone
    (the language step), with the caption gain 0 the panoptic terms alone (the vision step)."""
    return AllTasksLoss(
        model.num_classes,
        seg_gain=loss.seg,
        caption_gain=loss.caption,
        label_smoothing=loss.caption_smoothing,
        vision=any((loss.box, loss.cls, loss.dfl)),
        **box_criterion_args(model, loss),
    )


def _everything(
    det: Detections,
    input_shape: tuple[int, int],
    info: LetterboxInfo,
    options: PostprocessOptions,
) -> dict[str, Any]:
    """The panoptic fields, then the caption."""
    fields = PANOPTIC.postprocess(det, input_shape, info, options)
    fields.update(CAPTION.postprocess(det, input_shape, info, options))
    return fields


PANOPTIC_DEMO = PANOPTIC.demo
assert PANOPTIC_DEMO is not None

ALL = dataclasses.replace(
    PANOPTIC,
    name="all",
    description="every task (boxes, masks, semantic, panoptic, caption)",
    head_kinds=PANOPTIC.head_kinds,  # with a caption head (models.variants.HeadKind.task)
    loss_terms=(*PANOPTIC.loss_terms, "caption"),
    build_criterion=_criterion,
    outputs=PANOPTIC.outputs + CAPTION_OUTPUTS,
    nms_outputs=PANOPTIC.nms_outputs + CAPTION_OUTPUTS,
    result_fields=(*PANOPTIC.result_fields, *CAPTION.result_fields),
    postprocess=_everything,
    beyond_vision_nms=f"{PANOPTIC.beyond_vision_nms} and {CAPTION.beyond_vision_nms}",
    # validation every 5th epoch: every task's figures on every validation image
    demo=DemoSpec(
        model="yolov9-t-all",
        imgsz=160,
        epochs=30,
        train_images=200,
        val_images=40,
        batch=16,
        lr0=0.002,
        val_every=5,
        masks=True,
        scene=PANOPTIC_DEMO.scene,  # the panoptic demo's world scenes
    ),
)
