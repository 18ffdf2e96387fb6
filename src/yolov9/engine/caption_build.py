"""The parts a caption model's training adds: its vocabulary, the caption head's sizes, the
training samples, the per-epoch validator, and the loss gains when the data has no boxes."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch

from yolov9.config import LossConfig, TrainConfig
from yolov9.data.caption_training import CaptionTrainDataset, CaptionTraining
from yolov9.engine.caption_validator import CaptionValidator
from yolov9.engine.training_data import TrainingData
from yolov9.models import CaptionSpec, parse_model_name
from yolov9.tasks.caption import CaptionTokenizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptionParts:
    tokenizer: CaptionTokenizer
    spec: CaptionSpec
    train_set: CaptionTrainDataset
    validator: CaptionValidator | None
    loss: LossConfig


def caption_vocabulary(cfg: TrainConfig, train: CaptionTraining) -> CaptionTokenizer:
    """The vocabulary of the checkpoint a run starts from when it has one (its embeddings
    mean those tokens), else one learnt from the training captions (``model.vocab`` ids at
    most)."""
    if cfg.model.weights:
        from yolov9.checkpoints import load_weights

        head = load_weights(cfg.model.weights).model.caption
        if head is not None and head.vocabulary():
            log.info("caption vocabulary of %s kept (%s)", cfg.model.weights, "fine-tuning")
            return CaptionTokenizer(head.vocabulary())
    return CaptionTokenizer.train(
        [c for caps in train.captions for c in caps], vocab_size=cfg.model.vocab
    )


def caption_parts(
    cfg: TrainConfig, data: TrainingData, *, device: torch.device, is_main: bool
) -> CaptionParts:
    """What :func:`~yolov9.engine.build.build_training` adds for a caption model."""
    assert data.captions is not None
    tokenizer = caption_vocabulary(cfg, data.captions)
    head = parse_model_name(cfg.model.name).head.caption or CaptionSpec()
    spec = dataclasses.replace(
        head,
        vocab_size=len(tokenizer),
        attention_dropout=cfg.model.caption_attention_dropout,
    )
    max_tokens = spec.max_len + 2
    d = cfg.data
    train_set = CaptionTrainDataset(
        data.captions.dataset.records,
        data.captions.captions,
        tokenizer.encode,
        d.imgsz,
        max_tokens=max_tokens,
        seed=cfg.seed,
    )
    validator = None
    if is_main and data.captions_val is not None:
        validator = CaptionValidator(
            data.captions_val,
            tokenizer.encode,
            imgsz=d.imgsz,
            batch_size=d.val_batch,
            workers=d.workers,
            device=device,
            max_tokens=max_tokens,
        )
    loss = cfg.loss
    if not data.captions.has_boxes:
        log.info(
            "this caption data has no boxes: the detection terms are off and the detection "
            "heads keep their learnt weights (they get no gradient)"
        )
        loss = dataclasses.replace(loss, box=0.0, cls=0.0, dfl=0.0)
    return CaptionParts(tokenizer, spec, train_set, validator, loss)
