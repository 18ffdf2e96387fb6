"""Stateless tensor operations: box formats, IoU variants, anchors and NMS.

Shape legend used in docstrings throughout the package:

* ``B`` batch size
* ``A`` anchors over all pyramid levels (8400 at 640x640: 80² + 40² + 20²)
* ``M`` maximum number of ground-truth boxes in one image of the batch
* ``C`` number of classes
* ``R`` DFL bins (``reg_max``, 16)
* ``N`` number of boxes in a flat list

Box formats are named in every function: ``xyxy`` = (x1, y1, x2, y2) corners,
``xywh`` = (cx, cy, w, h) centre and size, ``ltrb`` = distances from an anchor point to
the left, top, right and bottom edges.
"""

from yolov9.ops.anchors import make_anchors
from yolov9.ops.boxes import (
    bbox2dist,
    box_area,
    box_iou,
    box_xywh_to_xyxy,
    box_xyxy_to_xywh,
    complete_box_iou,
    dist2bbox,
)
from yolov9.ops.nms import Detections, batched_nms, nms, non_max_suppression

__all__ = [
    "Detections",
    "batched_nms",
    "bbox2dist",
    "box_area",
    "box_iou",
    "box_xywh_to_xyxy",
    "box_xyxy_to_xywh",
    "complete_box_iou",
    "dist2bbox",
    "make_anchors",
    "nms",
    "non_max_suppression",
]
