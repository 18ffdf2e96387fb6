"""Detection, instance-mask and panoptic metrics."""

from yolov9.metrics.coco import (
    CocoMetrics,
    CocoResults,
    coco_ground_truth,
    evaluate_coco,
    to_coco_arrays,
    to_coco_results,
)
from yolov9.metrics.panoptic import PanopticMetrics, evaluate_panoptic

__all__ = [
    "CocoMetrics",
    "CocoResults",
    "PanopticMetrics",
    "coco_ground_truth",
    "evaluate_coco",
    "evaluate_panoptic",
    "to_coco_arrays",
    "to_coco_results",
]
