"""Image captioning: a caption model is a detector plus a caption head
(:mod:`yolov9.models.caption`) reading the same forward pass; every result carries the
image's caption and its score beside the boxes.

The task is detection's with what differs replaced: its criterion adds the caption term
(:class:`~yolov9.loss.CaptionLoss`), its vocabulary is a sentencepiece model kept in the
weights (:mod:`.tokenizer`), and the best epoch is the one with the best CIDEr-D on the
validation captions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from torch import nn

from yolov9.config import LossConfig
from yolov9.data.images import LetterboxInfo
from yolov9.data.synthetic_captions import SHAPES, make_caption_scene
from yolov9.loss import CaptionLoss
from yolov9.models import YOLOv9
from yolov9.ops.nms import Detections
from yolov9.tasks.base import DemoSpec, PostprocessOptions, box_criterion_args
from yolov9.tasks.caption.tokenizer import CaptionTokenizer
from yolov9.tasks.detect import DETECT

__all__ = ["CAPTION", "CAPTION_OUTPUTS", "CaptionTokenizer"]

# what the caption head adds to an export: its encoded visual tokens (B, S, d), from which the
# exported caption decoder (a second graph, stepped by our search) writes the caption; passed
# through unchanged when NMS is inside the graph
CAPTION_OUTPUTS = ("caption_memory",)


def _criterion(model: YOLOv9, loss: LossConfig) -> nn.Module:
    """Detection plus the caption term; with every box gain 0 (caption data without boxes)
    the detection terms are not computed at all (``CaptionLoss(detection=False)``)."""
    return CaptionLoss(
        model.num_classes,
        caption_gain=loss.caption,
        label_smoothing=loss.caption_smoothing,
        detection=any((loss.box, loss.cls, loss.dfl)),
        **box_criterion_args(model, loss),
    )


def _scene(
    rng: np.random.Generator, size: tuple[int, int], max_radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A generated caption scene (the caption demo's) with its shapes' boxes and classes."""
    image, objects, _ = make_caption_scene(rng, size)
    boxes = np.array(
        [[o["cx"] - o["r"], o["cy"] - o["r"], o["cx"] + o["r"], o["cy"] + o["r"]] for o in objects],
        np.float32,
    ).reshape(-1, 4)
    labels = np.array([SHAPES.index(o["shape"]) for o in objects], np.int64)
    return image, boxes, labels


def _caption(
    det: Detections,
    input_shape: tuple[int, int],
    info: LetterboxInfo,
    options: PostprocessOptions,
) -> dict[str, Any]:
    """The image's caption (decoded by the backend with the model's vocabulary)."""
    if det.caption is None:
        return {}
    return {"caption": det.caption, "caption_score": det.caption_score}


CAPTION = dataclasses.replace(
    DETECT,
    name="caption",
    description="captioning",
    head_kinds=("caption",),
    labels=(),  # boxes where the data has them, captions always
    loss_terms=("box", "cls", "dfl", "caption"),
    outputs=DETECT.outputs + CAPTION_OUTPUTS,
    nms_outputs=DETECT.nms_outputs + CAPTION_OUTPUTS,
    build_criterion=_criterion,
    fitness="CIDEr-D",
    result_fields=("caption",),
    postprocess=_caption,
    beyond_vision_nms="the caption",
    # validation every 5th epoch: the captions (beam 5) of every validation image
    demo=DemoSpec(
        model="yolov9-t-cap",
        imgsz=160,
        epochs=20,
        train_images=300,
        val_images=50,
        batch=16,
        lr0=0.002,
        val_every=5,
        masks=False,
        scene=_scene,
    ),
)
