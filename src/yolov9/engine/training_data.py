"""The datasets of a training run: both splits read and checked, label statistics and plot."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from yolov9.data.caption_training import CaptionTraining, caption_training_split
from yolov9.data.dataset import DetectionDataset, load_dataset
from yolov9.data.labels import Issue, LabelReport
from yolov9.data.mixture import Mixture, read_mixture
from yolov9.data.panoptic_training import PanopticTraining, panoptic_training_split
from yolov9.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingData:
    """The splits of a run. Panoptic and semantic data also carry each split's semantic
    labels and ground truth (``panoptic``, ``panoptic_val``); ``train`` and ``val`` then hold
    their things (no objects for label maps). Caption data also carries each split's
    captions (``captions``, ``captions_val``); ``train`` and ``val`` then hold its images,
    with boxes where it has them. The all-task data (a split naming panoptic labels and
    captions of one image folder) carries both, ``train`` and ``val`` holding the things."""

    train: DetectionDataset
    val: DetectionDataset | None  # None: the dataset has no validation split
    panoptic: PanopticTraining | None = None
    panoptic_val: PanopticTraining | None = None
    captions: CaptionTraining | None = None
    captions_val: CaptionTraining | None = None
    # a mixture (data.mixture): each member's train split; ``train`` then holds the images
    # of every member with boxes, ``panoptic`` and ``captions`` the first member's with them
    # (their names and stuff), the val fields the val dataset's
    members: tuple[TrainingData, ...] = ()
    member_names: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return list(self.train.names)

    @property
    def all_captions(self) -> list[str]:
        """Every training caption (of every member of a mixture)."""
        return [
            c
            for part in self.members or (self,)
            if part.captions is not None
            for caps in part.captions.captions
            for c in caps
        ]

    @property
    def stuff_names(self) -> list[str]:
        """The semantic channels after the thing classes (panoptic data)."""
        return list(self.panoptic.stuff_names) if self.panoptic is not None else []

    def report(self, run_dir: Path) -> None:
        """Log the label problems of both splits and write them into the run folder."""
        for i, part in enumerate(self.members):
            part.train.report.log()
            part.train.report.write(run_dir / f"label_issues_{i}.txt")
        if not self.members:
            self.train.report.log()
            self.train.report.write(run_dir / "label_issues.txt")
        if self.val is not None:
            self.val.report.log()
            self.val.report.write(run_dir / "label_issues_val.txt")


def load_training_data(data: str) -> TrainingData:
    """Read the train split (refused if unusable as a whole) and the val split if any.

    Raises:
        DataError: no usable training split, or splits with different class names.
    """
    mixture = read_mixture(data)
    if mixture is not None:
        return _mixture_training_data(mixture)
    captions = caption_training_split(data, "train")
    panoptic = panoptic_training_split(data, "train")
    if panoptic is not None:  # with captions: the all-task data
        pan = _panoptic_training_data(data, panoptic)
        if captions is None:
            return pan
        with_captions = _caption_training_data(data, captions)
        return dataclasses.replace(
            pan, captions=with_captions.captions, captions_val=with_captions.captions_val
        )
    if captions is not None:
        return _caption_training_data(data, captions)
    train = load_dataset(data, "train")
    check_training_data(train)
    try:
        val: DetectionDataset | None = load_dataset(data, "val")
    except DataError as e:
        log.warning("no validation: %s", e)
        val = None
    if val is not None and val.names != train.names:
        raise DataError(f"{data}: the train and val splits have different class names")
    return TrainingData(train, val)


def _mixture_training_data(mixture: Mixture) -> TrainingData:
    """Every member's splits read, checked to name the same classes (and stuff), and joined
    (``TrainingData.members``); the val fields are the val dataset's."""
    members = tuple(load_training_data(str(m)) for m in mixture.members)
    val = (
        members[mixture.members.index(mixture.val)]
        if mixture.val in mixture.members
        else load_training_data(str(mixture.val))
    )
    labelled = [(m, p) for m, p in zip(mixture.members, members, strict=True) if _has_names(p)]
    if not labelled:
        raise DataError(f"{mixture.source}: no member has boxes or semantic labels to name")
    first, ref = labelled[0]
    others = [*labelled[1:], (mixture.val, val)]
    for path, part in others:
        if _has_names(part) and part.names != ref.names:
            raise DataError(
                f"{mixture.source}: {path} names the classes {part.names}, {first} "
                f"{ref.names}; the members of a mixture must name the same classes in the same "
                "order"
            )
    panoptic = [(m, p) for m, p in [*labelled, (mixture.val, val)] if p.panoptic is not None]
    for path, part in panoptic[1:]:  # every one against the first, whose stuff the model gets
        if part.stuff_names != panoptic[0][1].stuff_names:
            raise DataError(
                f"{mixture.source}: {path} names the stuff {part.stuff_names}, "
                f"{panoptic[0][0]} {panoptic[0][1].stuff_names}; the members of a mixture "
                "must name the same stuff"
            )
    boxed = [p.train for p in members if p.train.report.boxes] or [ref.train]
    report = LabelReport(split=f"{mixture.source.name}:train")
    for ds in boxed:
        report.images += ds.report.images
        report.boxes += ds.report.boxes
        report.masks += ds.report.masks
    train = DetectionDataset(
        [r for ds in boxed for r in ds.records],
        ref.names,
        ref.train.category_ids,
        report,
        "mixture",
        "train",
    )
    return TrainingData(
        train,
        val.val,
        panoptic=next((p.panoptic for p in members if p.panoptic is not None), None),
        panoptic_val=val.panoptic_val,
        captions=next((p.captions for p in members if p.captions is not None), None),
        captions_val=val.captions_val,
        members=members,
        member_names=tuple(str(m) for m in mixture.members),
    )


def _has_names(data: TrainingData) -> bool:
    """Whether the data's class names mean something: it has boxes or semantic labels."""
    return data.panoptic is not None or data.train.report.boxes > 0


def _panoptic_training_data(data: str, train: PanopticTraining) -> TrainingData:
    if not train.semantic_only:
        check_training_data(train.dataset)
    try:
        val = panoptic_training_split(data, "val")
    except DataError as e:
        log.warning("no validation: %s", e)
        val = None
    if val is not None and (
        val.dataset.names != train.dataset.names or val.stuff_names != train.stuff_names
    ):
        raise DataError(f"{data}: the train and val splits have different class names")
    return TrainingData(train.dataset, val.dataset if val else None, train, val)


def _caption_training_data(data: str, train: CaptionTraining) -> TrainingData:
    try:
        val = caption_training_split(data, "val")
    except DataError as e:
        log.warning("no validation: %s", e)
        val = None
    if val is not None and val.dataset.names != train.dataset.names:
        raise DataError(f"{data}: the train and val splits have different class names")
    return TrainingData(
        train.dataset, val.dataset if val else None, captions=train, captions_val=val
    )


def check_caption_data(data: TrainingData, model: str, *, captions: bool) -> None:
    """A caption model learns captions: refuse data without them; any other model: refuse
    caption data (its boxes, if any, are for a caption model's detection head), unless it
    has other labels too (the all-task data: a panoptic model learns its panoptic labels)."""
    if captions and data.captions is None:
        raise DataError(
            f"{model} learns captions, but this data has none; give caption data (a data YAML "
            "with train: {images: DIR, captions: captions_train.json}, README 'Captions') or "
            "train a detection model (e.g. yolov9-t)"
        )
    if not captions and data.captions is not None and data.panoptic is None:
        raise DataError(
            f"this is caption data (captions in {data.captions.truth.source.name}); train a "
            f"caption model on it (e.g. yolov9-t-cap), not {model}"
        )


def check_training_data(ds: DetectionDataset) -> None:
    """Refuse a training split that is bad as a whole, listing why; warn about the rest."""
    counts = ds.report.counts
    dropped_images = (
        counts[Issue.MISSING_IMAGE]
        + counts[Issue.UNREADABLE_IMAGE]
        + counts[Issue.UNREADABLE_LABELS]
    )
    dropped_boxes = sum(n for k, n in counts.items() if "dropped" in k.action and "box" in k.action)
    reasons = []
    if ds.report.boxes == 0:
        reasons.append("no usable box at all")
    if dropped_images > len(ds):
        reasons.append(f"{dropped_images} images dropped, only {len(ds)} usable")
    if dropped_boxes > ds.report.boxes:
        reasons.append(f"{dropped_boxes} labels dropped, only {ds.report.boxes} usable")
    if reasons:
        details = "; ".join(str(i) for i in ds.report.problems[:5])
        raise DataError(
            f"refusing to train on {ds.report.split}: {', '.join(reasons)}. First problems: "
            f"{details}. Fix the labels (see label_issues.txt) and run again."
        )


def check_training_masks(data: TrainingData) -> None:
    """Segmentation trains and scores masks: refuse splits with objects that have none,
    naming a few of their label files."""
    if data.panoptic is not None and data.panoptic.semantic_only:
        return  # label maps: no objects, no instance masks to learn
    # a mixture's members without masks train their other terms (engine.mixture_build)
    for ds in (data.val,) if data.members else (data.train, data.val):
        if ds is None or ds.has_masks:
            continue
        with_mask, total = ds.mask_coverage
        lacking = [r.path for r in ds.records if r.training_segments() is None][:3]
        raise DataError(
            f"{ds.report.split}: {total - with_mask} of {total} objects have no instance mask "
            f"(e.g. the labels of {', '.join(lacking) or 'no image'}), so a segmentation model "
            "cannot train on them; give every object a polygon (YOLO segmentation txt, COCO "
            "segmentation, VOC SegmentationObject) or train a detection model"
        )


def check_semantic_labels(data: TrainingData, model: str, *, panoptic: bool) -> None:
    """A panoptic model learns the semantic map: refuse data without semantic labels; an
    instance model learns objects: refuse label maps (which have none)."""
    if not panoptic:
        if data.panoptic is not None and data.panoptic.semantic_only:
            raise DataError(
                f"{model} learns objects, but this data has semantic label maps only (no "
                "boxes); train a panoptic model on it (e.g. yolov9-t-pan)"
            )
        return
    if data.panoptic is None:
        raise DataError(
            f"{model} learns things and stuff, but this data has instance labels only; give "
            "panoptic data (COCO panoptic, the authors' stuff polygons) or semantic label maps "
            "(README, 'Panoptic and semantic'), or train an instance model (e.g. gelan-t-seg)"
        )


def label_sizes(ds: DetectionDataset, imgsz: int) -> tuple[list[float], list[int]]:
    """Box sides (square root of the area) at training resolution, and boxes per class."""
    sides: list[float] = []
    counts = [0] * len(ds.names)
    for r in ds.records:
        keep = r.train_mask
        scale = imgsz / max(r.width, r.height)
        wh = (r.boxes[keep, 2:4] - r.boxes[keep, :2]) * scale
        sides += np.sqrt(wh[:, 0] * wh[:, 1]).tolist()
        for c in r.classes[keep]:
            counts[int(c)] += 1
    return sides, counts


def plot_label_statistics(ds: DetectionDataset, path: Path) -> Path:
    """``labels.png``: boxes per class, box centres and sizes (normalised)."""
    from yolov9.utils.plots import plot_labels

    boxes, classes = [], []
    for r in ds.records:
        b = r.boxes[r.train_mask]
        wh = np.array([r.width, r.height, r.width, r.height], np.float32)
        centre, size = (b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]
        boxes.append(np.concatenate([centre, size], 1) / wh if len(b) else np.zeros((0, 4)))
        classes.append(r.classes[r.train_mask])
    return plot_labels(np.concatenate(boxes), np.concatenate(classes).astype(int), ds.names, path)
