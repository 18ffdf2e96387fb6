"""The training dataset: the reference augmentation pipeline over labelled images.

Per sample: with probability ``mosaic`` (until the trainer closes it for the last epochs) a
4-image mosaic, copy-paste (polygon labels only), random affine from 2s to s, and MixUp of a
second mosaic; otherwise a letterbox to s and the same random affine. Then HSV jitter and
flips. Polygons (segmentation labels) go through every geometric step, cut to the image, and
each box is recomputed from what is left of its polygon; with ``masks`` a sample also carries
its objects' masks at 1 / ``mask_ratio`` of its size, less what pasted objects cover. With a
``semantic`` source (panoptic and semantic data, :mod:`yolov9.data.panoptic_training`) it
carries its multi-hot semantic target and ignore map at that size too, the stuff polygons and
label maps having gone through every step with the image. Each
sample draws from ``numpy.random.default_rng((seed, epoch, index))``, so runs are
reproducible whatever the number of workers. An unreadable image never stops training: it is
replaced by another image and reported in the sample's ``problems``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from yolov9.data.augment import AugmentConfig
from yolov9.data.images import letterbox
from yolov9.data.labels import ImageLabels
from yolov9.data.loader import load_resized, stack_images, stack_targets
from yolov9.data.panoptic_training import SemanticSource, resize_label_map, semantic_sample
from yolov9.data.polygons import instance_masks
from yolov9.data.transforms import (
    VOID,
    Labels,
    copy_paste,
    flip_lr,
    flip_ud,
    hsv_jitter,
    mixup,
    mosaic4,
    random_affine,
)
from yolov9.errors import DataError


@dataclass
class TrainSample:
    image: torch.Tensor  # (s, s, 3) uint8 RGB
    targets: torch.Tensor  # (N, 5) class, x1, y1, x2, y2 in pixels of ``image``
    index: int
    problems: list[str] = field(default_factory=list)
    masks: torch.Tensor | None = None  # (N, s / ratio, s / ratio) uint8, one per target
    semantic: torch.Tensor | None = None  # (K, s / ratio, s / ratio) uint8 multi-hot target
    ignore: torch.Tensor | None = None  # (s / ratio, s / ratio) bool: no semantic target
    captions: torch.Tensor | None = None  # (T,) token ids of one caption (caption data)


class TrainDataset(Dataset[TrainSample]):
    """Augmented, square ``imgsz`` training samples. Call :meth:`set_epoch` every epoch."""

    def __init__(
        self,
        records: Sequence[ImageLabels],
        imgsz: int,
        spec: AugmentConfig | None = None,
        *,
        seed: int = 0,
        augment: bool = True,
        masks: bool = False,
        mask_ratio: int = 4,
        semantic: SemanticSource | None = None,
    ) -> None:
        if not records:
            raise DataError("the training split has no images")
        self.records, self.imgsz = list(records), imgsz
        self.spec = spec or AugmentConfig()
        self.seed, self.augment = seed, augment
        self.masks, self.mask_ratio = masks, mask_ratio
        self.semantic = semantic
        self.epoch, self.mosaic_on = 0, True
        self.cache: list[tuple[np.ndarray, tuple[int, int]] | None] | None = None

    def cache_images(self, budget_bytes: int) -> bool:
        """Keep every image decoded and resized in memory (identical samples, no decoding
        per epoch) if they fit in ``budget_bytes``; workers share them copy-on-write."""
        estimate = sum(
            3 * self.imgsz * self.imgsz * min(r.width, r.height) / max(r.width, r.height)
            for r in self.records
        )
        if estimate > budget_bytes:
            return False
        cache: list[tuple[np.ndarray, tuple[int, int]] | None] = []
        for record in self.records:
            try:
                cache.append(load_resized(record.path, self.imgsz, augment=True))
            except DataError:
                cache.append(None)  # reported when the sample is drawn
        self.cache = cache
        return True

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int, *, mosaic: bool = True) -> None:
        self.epoch, self.mosaic_on = epoch, mosaic

    @staticmethod
    def collate(samples: list[TrainSample]) -> TrainBatch:
        return collate_train(samples)

    def _load(
        self, index: int, rng: np.random.Generator, problems: list[str]
    ) -> tuple[np.ndarray, Labels]:
        """Image resized to long side ``imgsz`` and its training labels; an unreadable image
        is replaced by a random other one (and reported), as is one whose semantic labels
        (label map, stuff file) cannot be read."""
        semantic: tuple[list[np.ndarray], list[int], list[np.ndarray]] = ([], [], [])
        for _ in range(10):
            record = self.records[index]
            try:
                cached = self.cache[index] if self.cache is not None else None
                if cached is None and self.cache is not None:
                    raise DataError(f"{record.path}: cannot decode image")
                image, (h0, w0) = cached or load_resized(record.path, self.imgsz, augment=True)
                if self.semantic is not None:  # a bad label map or stuff file: as unreadable
                    semantic = self._semantic(index, image)
                break
            except DataError as e:
                problems.append(str(e))
                index = int(rng.integers(len(self.records)))
        else:
            raise DataError(f"10 unreadable images in a row, last: {problems[-1]}")
        keep = record.train_mask
        sx, sy = image.shape[1] / w0, image.shape[0] / h0
        boxes = record.boxes[keep] * np.array([sx, sy, sx, sy], np.float32)
        segs = record.training_segments()
        if segs is not None:
            segs = [seg * np.array([sx, sy], np.float32) for seg in segs]
        labels = Labels(boxes, record.classes[keep], segs)
        if self.semantic is None:
            return image, labels
        return image, self._with_semantic(labels, *semantic)

    def _semantic(
        self, index: int, image: np.ndarray
    ) -> tuple[list[np.ndarray], list[int], list[np.ndarray]]:
        """Image ``index``'s label map (at ``image``'s size), or its stuff polygons (in
        ``image``'s pixels) and their channels."""
        assert self.semantic is not None
        record = self.records[index]
        scale = np.array([image.shape[1] / record.width, image.shape[0] / record.height])
        label_map = self.semantic.label_map(index)
        maps = [resize_label_map(label_map, image.shape[:2])] if label_map is not None else []
        channels, polygons = self.semantic.stuff(index)
        return maps, channels, [(p * scale).astype(np.float32) for p in polygons]

    @staticmethod
    def _with_semantic(
        labels: Labels, maps: list[np.ndarray], channels: list[int], stuff: list[np.ndarray]
    ) -> Labels:
        """``labels`` with the label maps, and the stuff polygons as stuff objects."""
        if not stuff:
            return Labels(labels.boxes, labels.classes, labels.segments, semantic=maps)
        boxes = np.array([[*p.min(0), *p.max(0)] for p in stuff], np.float32)
        return Labels(
            np.concatenate([labels.boxes, boxes]),
            np.concatenate([labels.classes, channels]),
            [*(labels.segments or []), *stuff],
            stuff=np.arange(len(labels.classes) + len(stuff)) >= len(labels.classes),
            semantic=maps,
        )

    def _mosaic(
        self, index: int, rng: np.random.Generator, problems: list[str]
    ) -> tuple[np.ndarray, Labels]:
        others = rng.integers(0, len(self.records), 3).tolist()
        order = [index, *others]
        rng.shuffle(order)
        tiles = [self._load(i, rng, problems) for i in order]
        image, labels = mosaic4(tiles, self.imgsz, rng)
        image, labels = copy_paste(image, labels, self.spec.copy_paste, rng)
        border = -self.imgsz // 2
        return random_affine(image, labels, rng, self.spec, border=(border, border))

    def __getitem__(self, index: int) -> TrainSample:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        problems: list[str] = []
        spec = self.spec
        if self.augment and self.mosaic_on and rng.random() < spec.mosaic:
            image, labels = self._mosaic(index, rng, problems)
            if rng.random() < spec.mixup:
                other = self._mosaic(int(rng.integers(len(self.records))), rng, problems)
                image, labels = mixup((image, labels), other, rng)
        else:
            image, labels = self._load(index, rng, problems)
            image, info = letterbox(image, self.imgsz, auto=False, scaleup=self.augment)
            pad = np.array([*info.pad, *info.pad], np.float32)
            segs = (
                [s * info.ratio + pad[:2] for s in labels.segments]
                if labels.segments is not None
                else None
            )
            maps = [
                letterbox(
                    m,
                    self.imgsz,
                    scaleup=self.augment,
                    pad_value=VOID,
                    interpolation=cv2.INTER_NEAREST_EXACT,
                )[0]
                for m in labels.semantic
            ]
            labels = labels.moved(labels.boxes * info.ratio + pad, segs, maps)
            if self.augment:
                image, labels = random_affine(image, labels, rng, spec)
        if self.augment:
            image = hsv_jitter(image, (spec.hsv_h, spec.hsv_s, spec.hsv_v), rng)
            if rng.random() < spec.flipud:
                image, labels = flip_ud(image, labels)
            if rng.random() < spec.fliplr:
                image, labels = flip_lr(image, labels)
        s = self.imgsz
        image = np.ascontiguousarray(image)
        if image.shape[:2] != (s, s):  # cannot happen with the transforms above; guard anyway
            image = cv2.resize(image, (s, s))
        sample = TrainSample(torch.from_numpy(image), torch.zeros(0, 5), index, problems)
        things = labels.select(labels.things)
        boxes = things.boxes.clip(0, s - 1e-3)  # as the reference: just inside the border
        targets = np.concatenate([things.classes[:, None].astype(np.float32), boxes], 1)
        sample.targets = torch.from_numpy(targets)
        if self.masks:
            if things.segments is None:
                raise DataError(f"{self.records[index].path}: objects without polygons")
            sample.masks = torch.from_numpy(
                instance_masks(
                    things.segments, (s, s), self.mask_ratio, group=things.group, layer=things.layer
                )
            )
        if self.semantic is not None:
            if labels.segments is None:
                raise DataError(f"{self.records[index].path}: objects without polygons")
            target, ignore = semantic_sample(labels, s, self.mask_ratio, self.semantic.num_channels)
            sample.semantic, sample.ignore = torch.from_numpy(target), torch.from_numpy(ignore)
        return sample


@dataclass
class TrainBatch:
    images: torch.Tensor  # (B, 3, s, s) uint8, channels-last
    targets: torch.Tensor  # (N, 6) image index in batch, class, x1, y1, x2, y2 (pixels)
    problems: list[str]
    masks: torch.Tensor | None = None  # instance masks, one per target (segmentation only)
    semantic: torch.Tensor | None = None  # (B, K, h, w) multi-hot semantic target (panoptic)
    ignore: torch.Tensor | None = None  # (B, h, w) bool: pixels without a semantic target
    captions: torch.Tensor | None = None  # (B, T) token ids, one caption per image
    # the language step's batch (optim.language_step): the same images plain, with captions
    language: TrainBatch | None = None
    # the kinds of labels it carries (loss.interface.LABELS; a mixture's batch), None: all
    labels: frozenset[str] | None = None


def _stacked(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    present = [p for p in parts if p is not None]
    return torch.stack(present) if present and len(present) == len(parts) else None


def collate_train(samples: list[TrainSample]) -> TrainBatch:
    masks = [s.masks for s in samples]
    return TrainBatch(
        stack_images([s.image for s in samples]),
        stack_targets([s.targets for s in samples]),
        [p for s in samples for p in s.problems],
        torch.cat([m for m in masks if m is not None])
        if all(m is not None for m in masks)
        else None,
        _stacked([s.semantic for s in samples]),
        _stacked([s.ignore for s in samples]),
        _stacked([s.captions for s in samples]),
    )
