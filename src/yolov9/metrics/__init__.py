"""Detection metrics."""

from yolov9.metrics.coco import CocoMetrics, coco_ground_truth, evaluate_coco, to_coco_results

__all__ = ["CocoMetrics", "coco_ground_truth", "evaluate_coco", "to_coco_results"]
