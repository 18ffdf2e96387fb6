"""Instance segmentation: detection plus a mask per object, from the prototypes and each
detection's coefficients (:mod:`yolov9.tasks.segment.masks`), scored by COCO box and mask AP.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from yolov9.config import LossConfig
from yolov9.data.images import LetterboxInfo
from yolov9.data.synthetic import make_photo, make_segment_scene
from yolov9.loss import SegmentationLoss
from yolov9.models import YOLOv9
from yolov9.ops.nms import Detections
from yolov9.tasks.base import (
    BOX_NMS_OUTPUTS,
    BOX_OUTPUTS,
    DemoSpec,
    PostprocessOptions,
    Task,
    box_criterion_args,
)
from yolov9.tasks.segment.masks import masks_for_image

# what the masks add to an export: per-anchor mask coefficients and the image's prototypes;
# with NMS inside (deploy/onnx_nms.py), the kept detections' coefficients and the prototypes
MASK_OUTPUTS = ("coefficients", "prototypes")
MASK_NMS_OUTPUTS = ("det_coefficients", "prototypes")


def _criterion(model: YOLOv9, loss: LossConfig) -> nn.Module:
    return SegmentationLoss(model.num_classes, seg_gain=loss.seg, **box_criterion_args(model, loss))


def _masks(
    det: Detections, input_shape: tuple[int, int], info: LetterboxInfo, options: PostprocessOptions
) -> dict[str, Any]:
    """Each detection's mask in the original image's pixels."""
    if det.coeffs is None or det.protos is None:
        return {}
    masks = masks_for_image(
        det.protos, det.coeffs, det.boxes, input_shape, info, full_resolution=options.full_res_masks
    )
    return {"masks": masks}


def _scene(
    rng: np.random.Generator, size: tuple[int, int], max_radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shapes on a generated photo-like background, as in the demo's training images."""
    photo = make_photo(rng, (2 * size[0], 2 * size[1]))
    image, boxes, labels, _ = make_segment_scene(rng, size, photo=photo, max_radius=max_radius)
    return image, boxes, labels


SEGMENT = Task(
    name="segment",
    description="instance segmentation",
    head_kinds=("segment", "dsegment"),
    labels=("boxes", "masks"),
    loss_terms=("box", "seg", "cls", "dfl"),
    build_criterion=_criterion,
    outputs=BOX_OUTPUTS + MASK_OUTPUTS,
    nms_outputs=BOX_NMS_OUTPUTS + MASK_NMS_OUTPUTS,
    reference_outputs=("output0", "output1"),  # + (B, M, H/4, W/4) prototypes
    metrics=("bbox", "segm"),
    fitness="mask/AP",
    result_fields=("masks",),
    postprocess=_masks,
    beyond_vision_nms="mask coefficients",
    # validated at epochs 16 and 32 only: each validation scores every mask of up to 300
    # detections per image (6 s of a 4-minute budget), and the last epoch is the best
    demo=DemoSpec(
        model="gelan-t-seg",  # at this budget its cheaper step beats PGI (docs/benchmarks.md)
        imgsz=224,
        epochs=32,
        train_images=160,
        val_images=40,
        batch=8,
        lr0=0.005,  # learns the classes sooner than 0.003 (docs/benchmarks.md)
        val_every=16,
        masks=True,
        scene=_scene,
    ),
)
