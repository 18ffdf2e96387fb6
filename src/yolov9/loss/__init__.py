"""Training losses: the task-aligned assigner, the loss terms, and the (PGI dual) criterion."""

from yolov9.loss.assigner import Assignment, TaskAlignedAssigner
from yolov9.loss.criterion import LossOutput, YOLOv9Loss

__all__ = ["Assignment", "LossOutput", "TaskAlignedAssigner", "YOLOv9Loss"]
