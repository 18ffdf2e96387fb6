"""Training criteria: the task-aligned assigner, the loss terms, the PGI dual criterion and
the segmentation, panoptic, caption and all-task criteria."""

from yolov9.loss.all_tasks import AllTasksLoss
from yolov9.loss.assigner import Assignment, TaskAlignedAssigner
from yolov9.loss.caption import CaptionLoss
from yolov9.loss.criterion import YOLOv9Loss
from yolov9.loss.interface import Criterion, LossOutput, Targets
from yolov9.loss.panoptic import PanopticLoss
from yolov9.loss.segment import SegmentationLoss

__all__ = [
    "AllTasksLoss",
    "Assignment",
    "CaptionLoss",
    "Criterion",
    "LossOutput",
    "PanopticLoss",
    "SegmentationLoss",
    "Targets",
    "TaskAlignedAssigner",
    "YOLOv9Loss",
]
