"""Training criteria: the task-aligned assigner, the loss terms, and the PGI dual criterion."""

from yolov9.loss.assigner import Assignment, TaskAlignedAssigner
from yolov9.loss.criterion import YOLOv9Loss
from yolov9.loss.interface import Criterion, LossOutput, Targets

__all__ = [
    "Assignment",
    "Criterion",
    "LossOutput",
    "Targets",
    "TaskAlignedAssigner",
    "YOLOv9Loss",
]
