"""The parts a caption model's training adds (all-task models included): its vocabulary, the
caption head's sizes, the training samples, the per-epoch validator, the loss gains when the
data has no boxes, and the schedule: one step on plain images with every label, or the
authors' vision and language steps (``optim.language_step``)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from yolov9.config import LossConfig, TrainConfig
from yolov9.data.caption_training import CaptionTrainDataset, CaptionTraining, captions_for
from yolov9.data.labels import ImageLabels
from yolov9.data.language_step import CaptionedDataset, VisionLanguageDataset
from yolov9.data.mixture import MixtureDataset
from yolov9.data.train_dataset import TrainDataset
from yolov9.engine.all_validator import AllTasksValidator
from yolov9.engine.caption_validator import CaptionValidator
from yolov9.engine.language_step import LanguageStep, build_language_step
from yolov9.engine.panoptic_validator import PanopticValidator
from yolov9.engine.training_data import TrainingData
from yolov9.errors import ConfigError
from yolov9.models import CaptionSpec, YOLOv9, parse_model_name
from yolov9.tasks.base import Task
from yolov9.tasks.caption import CaptionTokenizer
from yolov9.tasks.registry import get_task

log = logging.getLogger(__name__)

TrainSet = (
    TrainDataset | CaptionTrainDataset | VisionLanguageDataset | CaptionedDataset | MixtureDataset
)


@dataclass(frozen=True)
class CaptionParts:
    tokenizer: CaptionTokenizer
    spec: CaptionSpec
    validator: CaptionValidator | AllTasksValidator | PanopticValidator | None
    loss: LossConfig
    imgsz: int
    seed: int

    def samples(
        self, records: Sequence[ImageLabels], split: CaptionTraining
    ) -> CaptionTrainDataset:
        """Plain images of ``records`` (boxes where they have them), one caption each, drawn
        from ``split``."""
        return CaptionTrainDataset(
            records,
            captions_for(records, split),
            self.tokenizer.encode,
            self.imgsz,
            max_tokens=self.spec.max_len + 2,
            seed=self.seed,
        )


@dataclass(frozen=True)
class CaptionRun:
    train_set: TrainSet
    language: LanguageStep | None  # optim.language_step


def caption_vocabulary(
    cfg: TrainConfig, captions: list[str], kept: bytes | None
) -> CaptionTokenizer:
    """``kept`` (the vocabulary of the checkpoint the run starts or resumes from: its
    embeddings mean those tokens) when there is one, else one learnt from the training
    captions (``model.vocab`` ids at most)."""
    if kept:
        log.info("caption vocabulary of %s kept", cfg.model.weights or "the resumed run")
        return CaptionTokenizer(kept)
    return CaptionTokenizer.train(captions, vocab_size=cfg.model.vocab)


def caption_parts(
    cfg: TrainConfig,
    data: TrainingData,
    task: Task,
    *,
    vocabulary: bytes | None,
    device: torch.device,
    is_main: bool,
) -> CaptionParts:
    """What :func:`~yolov9.engine.build.build_training` adds for a model of ``task`` (one
    that gives captions); ``vocabulary``: the one the run starts or resumes from, if any."""
    assert data.captions is not None
    tokenizer = caption_vocabulary(cfg, data.all_captions, vocabulary)
    head = parse_model_name(cfg.model.name).head.caption or CaptionSpec()
    spec = dataclasses.replace(
        head,
        vocab_size=len(tokenizer),
        attention_dropout=cfg.model.caption_attention_dropout,
    )
    max_tokens = spec.max_len + 2
    d = cfg.data
    kw = {"imgsz": d.imgsz, "batch_size": d.val_batch, "workers": d.workers}
    validator: CaptionValidator | AllTasksValidator | PanopticValidator | None = None
    if is_main and data.captions_val is None and data.panoptic_val and task.gives("semantic"):
        validator = PanopticValidator(data.panoptic_val, device=device, **kw)  # a mixture's val
    elif is_main and data.captions_val is not None:
        if task.gives("semantic") and data.panoptic_val is not None:
            validator = AllTasksValidator(
                data.panoptic_val,
                data.captions_val,
                tokenizer.encode,
                device=device,
                max_tokens=max_tokens,
                **kw,
            )
        else:
            validator = CaptionValidator(
                data.captions_val, tokenizer.encode, device=device, max_tokens=max_tokens, **kw
            )
    loss = cfg.loss
    if data.train.report.boxes == 0 and not task.gives("semantic"):  # label maps: no things
        log.info(
            "this caption data has no boxes: the detection terms are off and the detection "
            "heads keep their learnt weights (they get no gradient)"
        )
        loss = dataclasses.replace(loss, box=0.0, cls=0.0, dfl=0.0)
    return CaptionParts(tokenizer, spec, validator, loss, d.imgsz, cfg.seed)


def uses_language_step(choice: str, *, boxes: bool) -> bool:
    """Whether a caption or all-task run has the authors' language step: ``on``, ``off``, or
    ``auto``: on where the data has boxes, off without (there is no vision step). Measured
    against one step on three seeds (docs/benchmarks.md): caption models, CIDEr-D about twice
    as high; all-task models, the mean of their figures 0.740 against 0.727 (captions and
    masks better, boxes and PQ worse).

    Raises:
        ConfigError: ``on`` for data without boxes.
    """
    if choice == "on" and not boxes:
        raise ConfigError(
            "optim.language_step: this caption data has no boxes, so there is no vision "
            "step (train it with optim.language_step=off)"
        )
    if choice == "auto":
        on = boxes
        log.info("schedule: %s (optim.language_step=auto)", "language step" if on else "one step")
        return on
    return choice == "on"


def caption_run(
    cfg: TrainConfig,
    data: TrainingData,
    task: Task,
    cap: CaptionParts,
    model: YOLOv9,
    vision: Callable[..., TrainDataset],
    *,
    weight_decay: float,
) -> CaptionRun:
    """The samples (and the language step) of a caption or all-task run; ``vision(augmented=)``
    makes the vision task's samples of the run's images.

    * with a language step (:func:`uses_language_step`): per batch a language step on
      ``cap.samples`` and a vision step on augmented samples
      (:mod:`~yolov9.engine.language_step`);
    * otherwise one step: a caption model on ``cap.samples`` (boxes where the data has
      them), an all-task model on its unaugmented panoptic samples, each with a caption.

    Raises:
        ConfigError: ``optim.language_step=on`` without boxes (there is no vision step).
    """
    assert data.captions is not None
    # the run's images (the things of all-task data, the caption split's images otherwise)
    language_set = cap.samples(data.train.records, data.captions)
    if uses_language_step(cfg.optim.language_step, boxes=data.train.report.boxes > 0):
        sight = get_task("panoptic" if task.gives("semantic") else "detect")
        language = build_language_step(
            model, cfg, cap.loss, vision=sight, language=task, weight_decay=weight_decay
        )
        return CaptionRun(VisionLanguageDataset(vision(), language_set), language)
    if task.gives("semantic"):
        return CaptionRun(CaptionedDataset(vision(augmented=False), language_set), None)
    return CaptionRun(language_set, None)
