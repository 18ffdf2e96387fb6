"""What a task is: everything that differs between detection, instance segmentation and the
tasks to come, declared once.

The pipeline (trainer, evaluator, predictor, tiles, backends, exporters, benchmark, CLI,
demo) never compares task names: it looks the model's task up (:mod:`yolov9.tasks.registry`)
and asks it what to build, read, compute, score, write or export. Fields are tuples of names
so that a task made of several tasks (the all-task network) is the union of its parts'
(``docs/architecture.md``, "A new task").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from yolov9.config import LossConfig
from yolov9.data.images import LetterboxInfo
from yolov9.errors import ConfigError
from yolov9.models import YOLOv9
from yolov9.ops.nms import Detections

# what every task's exported graph starts with: decoded boxes and class scores; with NMS
# inside, the kept detections (:mod:`yolov9.deploy.onnx_nms`)
BOX_OUTPUTS = ("boxes", "scores")
BOX_NMS_OUTPUTS = ("num_dets", "det_boxes", "det_scores", "det_classes")


@dataclass(frozen=True)
class FusionOptions:
    """Panoptic fusion's thresholds (:mod:`yolov9.tasks.panoptic.fusion`); the defaults are
    the authors' rule."""

    score_threshold: float = 0.25  # instances below this score are not segments
    min_stuff_area: int = 0  # stuff segments with fewer pixels become void (0: off)
    min_kept_fraction: float = 0.0  # drop an instance keeping less of its mask (0: off)


@dataclass(frozen=True)
class PostprocessOptions:
    """What turning one image's detections into a ``Result`` may need besides them.

    Attributes:
        full_res_masks: masks from the prototypes straight at the image's resolution.
        names: the model's class (thing) names; ``stuff_names`` its stuff channels (panoptic).
        fusion: panoptic fusion's thresholds.
    """

    full_res_masks: bool = False
    names: tuple[str, ...] = ()
    stuff_names: tuple[str, ...] = ()
    fusion: FusionOptions = FusionOptions()


# (one image's detections, network input (h, w), its letterbox, options) -> the Result
# fields the task adds to boxes, scores and labels
Postprocess = Callable[
    [Detections, tuple[int, int], LetterboxInfo, PostprocessOptions], dict[str, Any]
]
# (rng, (h, w), largest shape radius) -> RGB image, boxes (N, 4) xyxy, class ids (N,)
SceneMaker = Callable[
    [np.random.Generator, tuple[int, int], float], tuple[np.ndarray, np.ndarray, np.ndarray]
]


@dataclass(frozen=True)
class DemoSpec:
    """What ``yolov9 demo --task <name>`` generates and trains (``yolov9.demo``)."""

    model: str  # the network trained (one with PGI is converted after, to predict)
    imgsz: int
    epochs: int
    train_images: int
    val_images: int
    batch: int
    lr0: float
    val_every: int
    masks: bool  # the generated dataset carries polygon masks
    scene: SceneMaker  # the new scene predicted after training


@dataclass(frozen=True)
class Task:
    """One task of the model zoo, as data plus the few functions that differ.

    Attributes:
        name: the name checkpoints and exports record (``meta.task``).
        description: a few words for messages and ``yolov9 models``.
        head_kinds: the ``models.variants.HeadKind`` names whose models do this task.
        labels: what every object of a training or validation split must carry
            (``"boxes"``; ``"masks"``: an instance polygon).
        loss_terms: the gain-weighted terms the trainer logs, in order.
        build_criterion: ``(model, loss config) -> criterion`` (main + auxiliary head).
        outputs: the exported graph's named outputs, in the order of
            ``inference.Decoded``'s fields.
        nms_outputs: the same with NMS inside the graph.
        reference_outputs: the authors' export layout (``yolov9 benchmark``'s reference).
        metrics: the COCO scorings ``val`` runs (``"bbox"``, ``"segm"``).
        fitness: the record key that picks the best epoch.
        result_fields: the ``Result`` fields the task fills besides boxes, scores and labels
            (and so what records and writers carry).
        postprocess: one image's detections -> those fields.
        beyond_vision_nms: what CoreML's Vision NMS pipeline (boxes and scores only) cannot
            carry of the task's outputs ("" when nothing).
        demo: what the embedded demo runs (None: none yet).
    """

    name: str
    description: str
    head_kinds: tuple[str, ...]
    labels: tuple[str, ...]
    loss_terms: tuple[str, ...]
    build_criterion: Callable[[YOLOv9, LossConfig], nn.Module]
    outputs: tuple[str, ...]
    nms_outputs: tuple[str, ...]
    reference_outputs: tuple[str, ...]
    metrics: tuple[str, ...]
    fitness: str
    result_fields: tuple[str, ...]
    postprocess: Postprocess
    beyond_vision_nms: str
    demo: DemoSpec | None  # None: no embedded demo yet

    def needs(self, label: str) -> bool:
        """Whether every object must carry ``label`` (``"masks"``) to train or score."""
        return label in self.labels

    def gives(self, field: str) -> bool:
        """Whether the task's results carry ``field`` (``"masks"``)."""
        return field in self.result_fields

    def scores(self, iou_type: str) -> bool:
        """Whether ``val`` computes the COCO metrics of ``iou_type`` (``"segm"``)."""
        return iou_type in self.metrics

    def refuse_vision_nms(self) -> None:
        """Stop, in one line, when CoreML's NMS pipeline cannot carry the task's outputs."""
        if self.beyond_vision_nms:
            raise ConfigError(
                f"CoreML's NMS cannot carry {self.beyond_vision_nms}: export this "
                f"{self.description} model to CoreML without --nms (NMS then runs after the "
                "runtime)"
            )

    def criterion(self, model: YOLOv9, loss: LossConfig) -> nn.Module:
        """The task's criterion (a ``loss.Criterion``) for ``model``."""
        return self.build_criterion(model, loss)


def box_criterion_args(model: YOLOv9, loss: LossConfig) -> dict[str, Any]:
    """The PGI criterion's arguments every box-predicting task shares."""
    return {
        "reg_max": model.reg_max,
        "box_gain": loss.box,
        "cls_gain": loss.cls,
        "dfl_gain": loss.dfl,
        "aux_weight": loss.aux_weight,
        "topk": loss.topk,
        "alpha": loss.alpha,
        "beta": loss.beta,
        "resolve_among_candidates": loss.resolve_among_candidates,
    }
