"""Detection metrics."""

from yolov9.metrics.coco import (
    CocoMetrics,
    CocoResults,
    coco_ground_truth,
    evaluate_coco,
    to_coco_arrays,
    to_coco_results,
)

__all__ = [
    "CocoMetrics",
    "CocoResults",
    "coco_ground_truth",
    "evaluate_coco",
    "to_coco_arrays",
    "to_coco_results",
]
