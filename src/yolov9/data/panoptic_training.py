"""Panoptic and semantic data as training data: the things as instance labels (boxes and
polygons, which augmentation moves as for segmentation) and, per image, where its semantic
target comes from, in the model's channels (the things in class order, then the stuff):

* COCO panoptic (PNG + JSON): the PNG as a label map (segment id -> channel, void as ``VOID``);
  the things' polygons are the largest outer contours of their masks in the PNG;
* the authors' format: the stuff polygons of ``stuff/*.txt``, moved as polygons;
* semantic label maps: the map itself (the dataset's ``ignore`` value as ``VOID``); no things.

Label maps are warped by nearest neighbour with the image (``data.transforms``); the target is
built at the end (:func:`semantic_sample`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yolov9.data import cache
from yolov9.data.dataset import DetectionDataset
from yolov9.data.images import read_image
from yolov9.data.labels import ImageLabels, LabelReport, image_size, training_polygons
from yolov9.data.panoptic import PanopticSet, rgb_to_id
from yolov9.data.panoptic_formats import (
    PolygonPanopticSet,
    SemanticSet,
    panoptic_split,
    stuff_polygons,
)
from yolov9.data.polygons import semantic_target
from yolov9.data.transforms import VOID, Labels
from yolov9.errors import DataError

log = logging.getLogger(__name__)


class SemanticSource:
    """Where each training image's semantic labels come from (one of the subclasses)."""

    num_channels: int

    def label_map(self, index: int) -> np.ndarray | None:
        """(H, W) uint16 channel per pixel of the original image (``VOID``: none), or None."""
        return None

    def stuff(self, index: int) -> tuple[list[int], list[np.ndarray]]:
        """The stuff polygons of image ``index`` (original pixels) and their channels."""
        return [], []


@dataclass
class PanopticPngs(SemanticSource):
    """COCO panoptic PNGs; ``luts[i]`` maps the segment ids of image ``i`` to channels."""

    pngs: list[Path]
    luts: list[tuple[np.ndarray, np.ndarray]]  # sorted segment ids (0 first), their channels
    num_channels: int

    def label_map(self, index: int) -> np.ndarray:
        ids = rgb_to_id(read_image(self.pngs[index]))
        keys, values = self.luts[index]
        pos = np.clip(np.searchsorted(keys, ids), 0, len(keys) - 1)
        return np.where(keys[pos] == ids, values[pos], VOID).astype(np.uint16)


@dataclass
class StuffPolygons(SemanticSource):
    """The authors' ``stuff/*.txt`` files (the things come from the instance polygons)."""

    files: list[Path]
    sizes: list[tuple[int, int]]  # (w, h) of each image
    num_things: int
    num_channels: int

    def stuff(self, index: int) -> tuple[list[int], list[np.ndarray]]:
        w, h = self.sizes[index]
        groups = stuff_polygons(self.files[index], self.num_things, self.num_channels, w, h)
        channels = [c for c, polygons in groups for _ in polygons]
        return channels, [p.astype(np.float32) for _, polygons in groups for p in polygons]


@dataclass
class LabelMaps(SemanticSource):
    """Semantic label maps (class index = channel, the dataset's ``ignore`` value void)."""

    semset: SemanticSet
    sizes: list[tuple[int, int]]  # (h, w) of each image
    num_channels: int

    def label_map(self, index: int) -> np.ndarray:
        label = self.semset.read_label(index, self.sizes[index])
        return np.where(label == self.semset.ignore, VOID, label).astype(np.uint16)


@dataclass
class PanopticTraining:
    """One split of panoptic or semantic data, ready to train on and to score."""

    dataset: DetectionDataset  # the things (none for label maps)
    stuff_names: list[str]  # the semantic channels after the things
    source: SemanticSource
    truth: PanopticSet | SemanticSet  # the ground truth PQ / mIoU is computed on

    @property
    def semantic_only(self) -> bool:
        """Label maps: mIoU only (no PQ, no AP)."""
        return isinstance(self.truth, SemanticSet)


def _report(split: str, records: list[ImageLabels]) -> LabelReport:
    boxes = sum(int(r.train_mask.sum()) for r in records)
    masks = sum(int(r.train_mask.sum()) for r in records if r.segments is not None)
    return LabelReport(split=split, images=len(records), boxes=boxes, masks=masks)


def _thing_records(panset: PanopticSet, channel: np.ndarray) -> list[ImageLabels]:
    """Each image's things as instance labels, from its PNG (every PNG read and checked
    against the JSON), cached as the instance formats' labels are (:mod:`.cache`: any
    change to the JSON or a PNG reads them again)."""
    for image in panset.images:
        if image.image is None:
            raise DataError(f"{panset.json_path}: image {image.file_name} not found")
    inputs = [panset.json_path, *(image.png for image in panset.images)]
    inputs += [Path(str(image.image)) for image in panset.images]
    key = cache.fingerprint(inputs, {"panoptic_things": 1, "channels": channel.tolist()})
    cache_file = cache.cache_root() / f"{key[:32]}.npz"
    cached = cache.load_with_masks(cache_file)
    if cached is not None:
        log.debug("panoptic things from cache %s", cache_file)
        return cached[0]
    records = []
    for number, image in enumerate(panset.images):
        ids = panset.read_ids(image)
        truth = panset.instance_truth(ids, image)
        segmentations = list(truth.rles)
        records.append(
            ImageLabels(
                str(image.image),
                image.width,
                image.height,
                truth.boxes,
                channel[truth.classes],  # a thing's channel is its class index
                image_id=number + 1,
                crowd=truth.crowd,
                areas=truth.areas,
                segments=training_polygons(segmentations) if segmentations else [],
                segmentations=segmentations,
            )
        )
    cache.save_with_masks(cache_file, records, LabelReport(), {})
    return records


def _from_coco(panset: PanopticSet, split: str) -> PanopticTraining:
    isthing = panset.isthing
    things = [i for i, t in enumerate(isthing) if t]
    stuff = [i for i, t in enumerate(isthing) if not t]
    channel = np.empty(len(isthing), np.int64)
    channel[things + stuff] = np.arange(len(isthing))  # things first, then stuff
    index = panset.category_index
    records = _thing_records(panset, channel)
    pngs, luts = [], []
    for image in panset.images:
        keys = np.array([0] + [int(s["id"]) for s in image.segments], np.int64)
        values = np.array(
            [VOID] + [channel[index[int(s["category_id"])]] for s in image.segments], np.int64
        )
        order = np.argsort(keys)
        luts.append((keys[order], values[order]))
        pngs.append(image.png)
    names = [panset.names[i] for i in things]
    ids_of = [int(panset.categories[i]["id"]) for i in things]
    report = _report(split, records)
    dataset = DetectionDataset(records, names, ids_of, report, "coco-panoptic", split)
    source = PanopticPngs(pngs, luts, len(isthing))
    return PanopticTraining(dataset, [panset.names[i] for i in stuff], source, panset)


def _from_polygons(panset: PolygonPanopticSet, split: str) -> PanopticTraining:
    records = [panset.things[str(image.image)] for image in panset.images]
    names = panset.names[: panset.num_things]
    source = StuffPolygons(
        [panset.stuff_files[str(image.image)] for image in panset.images],
        [(r.width, r.height) for r in records],
        panset.num_things,
        len(panset.categories),
    )
    ids = list(range(1, len(names) + 1))
    dataset = DetectionDataset(records, names, ids, _report(split, records), "yolo", split)
    return PanopticTraining(dataset, panset.names[panset.num_things :], source, panset)


def _from_label_maps(semset: SemanticSet, split: str) -> PanopticTraining:
    records, sizes = [], []
    for i, path in enumerate(semset.images):
        w, h = image_size(path)
        sizes.append((h, w))
        records.append(ImageLabels(str(path), w, h, np.zeros((0, 4), np.float32), np.zeros(0)))
        records[-1].image_id = i + 1
    names = list(semset.names)
    ids = list(range(1, len(names) + 1))
    dataset = DetectionDataset(records, names, ids, _report(split, records), "semantic", split)
    return PanopticTraining(dataset, [], LabelMaps(semset, sizes, len(names)), semset)


def panoptic_training_split(data: str | Path, split: str) -> PanopticTraining | None:
    """The split as panoptic training data, or None when ``data`` is instance data."""
    truth = panoptic_split(data, split)
    if truth is None:
        return None
    if isinstance(truth, SemanticSet):
        return _from_label_maps(truth, split)
    if isinstance(truth, PolygonPanopticSet):
        return _from_polygons(truth, split)
    return _from_coco(truth, split)


def semantic_sample(
    labels: Labels, size: int, ratio: int, num_channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """The (K, s / ratio, s / ratio) uint8 multi-hot target of a ``size`` x ``size`` sample and
    its (s / ratio, s / ratio) ignore map.

    Label maps are sampled at the centre of each ``ratio`` x ``ratio`` cell; without label
    maps the polygons (things and stuff) are drawn into their channels as the reference does.
    A pixel is ignored where every label map is ``VOID`` (MixUp blends two: one labels what
    the other does not) or where no channel is set (unlabelled by every polygon; the reference
    instead pushes such pixels towards no class at all). Pasted objects hide what is under
    them, as in the image.
    """
    h = w = size // ratio
    if labels.semantic:
        target = np.zeros((num_channels, h, w), np.uint8)
        ignore = np.ones((h, w), bool)
        ys, xs = np.mgrid[0:h, 0:w]
        for label_map in labels.semantic:
            cells = label_map[ratio // 2 :: ratio, ratio // 2 :: ratio][:h, :w].astype(np.int64)
            ignore &= cells == VOID
            known = cells < num_channels
            target[cells[known], ys[known], xs[known]] = 1
    else:
        segments = labels.segments or []
        target = semantic_target(
            segments,
            labels.classes,
            (size, size),
            ratio,
            num_channels,
            group=labels.group,
            layer=labels.layer,
        )
        ignore = np.zeros((h, w), bool)
    ignore |= target.max(0) == 0
    return target, ignore


def resize_label_map(label_map: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A label map at ``shape`` (h, w) by nearest neighbour."""
    if label_map.shape == shape:
        return label_map
    # pixel-centre aligned, as the image's resize (INTER_NEAREST samples floor(x * scale))
    return cv2.resize(label_map, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST_EXACT)
