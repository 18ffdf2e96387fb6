"""The training samples of a mixture of datasets (:mod:`yolov9.data.mixture`): for each
member, the samples of the labels it has that the model learns, and the label kinds its
batches carry (the criterion computes the terms of those kinds only)."""

from __future__ import annotations

from collections.abc import Callable

from yolov9.data.caption_training import collate_captions
from yolov9.data.language_step import CaptionedDataset
from yolov9.data.mixture import MixtureDataset, Part, PartSet
from yolov9.data.panoptic_training import SemanticSource
from yolov9.data.train_dataset import TrainDataset, collate_train
from yolov9.engine.caption_build import CaptionParts
from yolov9.engine.training_data import TrainingData
from yolov9.errors import ConfigError, DataError
from yolov9.tasks.base import Task


def learnt_labels(task: Task) -> frozenset[str]:
    """The kinds of labels a model of ``task`` learns from (every model has boxes)."""
    kinds = {"boxes"}
    if task.needs("masks"):
        kinds.add("masks")
    if task.gives("semantic"):
        kinds.add("semantic")
    if task.gives("caption"):
        kinds.add("captions")
    return frozenset(kinds)


def offered_labels(data: TrainingData) -> frozenset[str]:
    """The kinds of labels one dataset's training split carries: panoptic data its things
    (boxes and masks) and semantic target, label maps the semantic target alone, caption data
    its captions (and boxes where its images have YOLO labels), instance data its boxes (and
    masks when every object has one)."""
    kinds = set()
    if data.panoptic is not None:
        kinds.add("semantic")
        if not data.panoptic.semantic_only:
            kinds |= {"boxes", "masks"}
    elif data.train.report.boxes:
        kinds.add("boxes")
        if data.captions is None and data.train.has_masks:
            kinds.add("masks")
    if data.captions is not None:
        kinds.add("captions")
    return frozenset(kinds)


def mixture_set(
    data: TrainingData,
    task: Task,
    model: str,
    *,
    vision: Callable[..., TrainDataset],
    cap: CaptionParts | None,
    language_step: str,
) -> MixtureDataset:
    """The samples of every member of ``data`` (a mixture) for a model of ``task``.

    ``vision(dataset, masks=, semantic=, augmented=)`` makes a member's vision samples; a
    member with captions gives plain images (captions ride on unaugmented samples), any other
    augmented ones.

    Raises:
        DataError: a member without any label the model learns.
        ConfigError: ``optim.language_step=on`` (a mixture trains in one step).
    """
    if language_step == "on":
        raise ConfigError(
            "optim.language_step: a mixture of datasets trains in one step (every batch the "
            "terms its labels allow); set optim.language_step=off or auto"
        )
    learns = learnt_labels(task)
    parts = []
    for name, member in zip(data.member_names, data.members, strict=True):
        offered = offered_labels(member)
        kinds = offered & learns
        if not kinds:
            raise DataError(
                f"{name}: its labels ({', '.join(sorted(offered))}) are none that {model} "
                f"learns ({', '.join(sorted(learns))}); drop it from the mixture"
            )
        semantic: SemanticSource | None = None
        if "semantic" in kinds:
            assert member.panoptic is not None
            semantic = member.panoptic.source
        samples: PartSet
        if "captions" in kinds:
            assert cap is not None
            assert member.captions is not None
            language = cap.samples(member.train.records, member.captions)
            if semantic is None:  # plain images, their boxes if any, one caption each
                samples, collate = language, collate_captions
                kinds -= {"masks"}
            else:
                masks = "masks" in kinds
                sight = vision(member.train, masks=masks, semantic=semantic, augmented=False)
                samples, collate = CaptionedDataset(sight, language), collate_train
        else:
            samples = vision(member.train, masks="masks" in kinds, semantic=semantic)
            collate = collate_train
        parts.append(Part(samples, collate, kinds, name))
    return MixtureDataset(parts)
