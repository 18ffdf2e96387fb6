"""Panoptic segmentation: the authors' ``Panoptic`` head gives boxes, instance masks and
semantic logits over things and stuff in one forward pass; each result carries the instance
masks (as segmentation), the semantic map (:mod:`.semantic`) and the panoptic segmentation
fused from both (:mod:`.fusion`, the authors' rule), in the categories of :mod:`.labels`.

The task is segmentation's with what differs replaced: its criterion adds the semantic terms
(:class:`~yolov9.loss.PanopticLoss`), and the best epoch is the one with the best PQ (mIoU on
semantic label maps, which the trainer's validator decides).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from torch import nn

from yolov9.config import LossConfig
from yolov9.data.coco_panoptic import default_stuff_names
from yolov9.data.images import LetterboxInfo
from yolov9.data.synthetic_world import make_world_scene, thing_boxes
from yolov9.loss import PanopticLoss
from yolov9.models import YOLOv9
from yolov9.ops.nms import Detections
from yolov9.tasks.base import DemoSpec, PostprocessOptions, box_criterion_args
from yolov9.tasks.panoptic.fusion import PanopticSegmentation, Segment, fuse
from yolov9.tasks.panoptic.labels import PanopticLabels
from yolov9.tasks.panoptic.semantic import semantic_map
from yolov9.tasks.segment import SEGMENT
from yolov9.tasks.segment.masks import InstanceMasks

__all__ = [
    "PANOPTIC",
    "PanopticLabels",
    "PanopticSegmentation",
    "Segment",
    "default_stuff_names",
    "fuse",
    "semantic_map",
]

# what the semantic branch adds to an export (after the segmentation outputs): the semantic
# logits (B, K, H/4, W/4), passed through unchanged when NMS is inside the graph
SEMANTIC_OUTPUTS = ("semantic",)


def _criterion(model: YOLOv9, loss: LossConfig) -> nn.Module:
    return PanopticLoss(model.num_classes, seg_gain=loss.seg, **box_criterion_args(model, loss))


def _scene(
    rng: np.random.Generator, size: tuple[int, int], max_radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A generated world scene (the panoptic demo's) with its things' boxes and classes."""
    image, _, _, things = make_world_scene(rng, size)
    boxes, labels = thing_boxes(things)
    return image, boxes, labels


def _panoptic(
    det: Detections,
    input_shape: tuple[int, int],
    info: LetterboxInfo,
    options: PostprocessOptions,
) -> dict[str, Any]:
    """Instance masks as segmentation, then the semantic map and the fused segmentation."""
    fields = SEGMENT.postprocess(det, input_shape, info, options)
    if det.semantic is None:
        return fields
    semantic = semantic_map(det.semantic, input_shape, info)
    masks = fields.get("masks")
    if masks is None:
        masks = InstanceMasks.empty(info.original_shape)
    # the semantic channels decide (an export's metadata may lack the stuff names)
    stuff = default_stuff_names(
        int(det.semantic.shape[0]) - len(options.names), options.stuff_names
    )
    labels = PanopticLabels.for_model(options.names, stuff)
    fields["semantic"] = semantic
    fields["panoptic"] = fuse(
        masks,
        det.scores.cpu().numpy(),
        det.labels.cpu().numpy(),
        semantic,
        labels,
        options.fusion,
    )
    return fields


PANOPTIC = dataclasses.replace(
    SEGMENT,
    name="panoptic",
    description="panoptic segmentation",
    head_kinds=("panoptic", "dpanoptic"),
    loss_terms=("box", "seg", "cls", "dfl", "focal", "dice"),
    build_criterion=_criterion,
    outputs=SEGMENT.outputs + SEMANTIC_OUTPUTS,
    nms_outputs=SEGMENT.nms_outputs + SEMANTIC_OUTPUTS,
    result_fields=("masks", "semantic", "panoptic"),
    fitness="PQ",
    postprocess=_panoptic,
    beyond_vision_nms="mask coefficients and semantic logits",
    # validation every 5th epoch: PQ, mIoU and box and mask AP of every image
    demo=DemoSpec(
        model="yolov9-t-pan",
        imgsz=160,
        epochs=30,
        train_images=160,
        val_images=40,
        batch=16,
        lr0=0.003,
        val_every=5,
        masks=True,
        scene=_scene,
    ),
)
