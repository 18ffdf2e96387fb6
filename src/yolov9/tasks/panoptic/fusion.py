"""Panoptic fusion: one image's instances and semantic map -> non-overlapping segments.

The rule is the one that produced the authors' PQ (their panoptic validation, branch
``add_panoptic_eval``; ``../shared/docs/multitask-spec.md`` section 5), not their drawing code:

1. Instances in descending score order, stopping at the first score below
   ``score_threshold`` (0.25; a score equal to it is kept); each claims the pixels of its mask
   that no earlier instance claimed.
2. Each stuff category (a semantic channel mapped through :class:`PanopticLabels`) takes the
   unclaimed pixels whose semantic argmax is one of its channels: one segment per category.
3. Everything else is void (id 0): unclaimed pixels whose argmax is a thing class, or a
   channel with no category.
4. Segments that keep no pixel are dropped; there is no other filter.

Two filters of the usual practice elsewhere (detectron2's panoptic FPN) are options, off by
default so that the reference's rule, and its PQ, are what you get: ``min_stuff_area`` drops
stuff segments below that many pixels (void instead), ``min_kept_fraction`` drops an instance
that keeps less than that fraction of its mask after earlier instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from yolov9.data.panoptic import id_to_rgb
from yolov9.tasks.base import FusionOptions
from yolov9.tasks.panoptic.labels import PanopticLabels
from yolov9.tasks.segment.masks import InstanceMasks


@dataclass(frozen=True)
class Segment:
    """One segment of a panoptic segmentation.

    Attributes:
        id: its value in the id map (1, 2, ...).
        category: index into the labels' ``names``.
        isthing: a counted object (from an instance) rather than a stuff region.
        area: pixels.
        score: the instance's detection score (things); None for stuff.
        detection: the index of the instance among the image's detections (things).
    """

    id: int
    category: int
    isthing: bool
    area: int
    score: float | None = None
    detection: int | None = None


@dataclass
class PanopticSegmentation:
    """A segment id per pixel (0: void) and one record per segment.

    The id map is uint16 (uint32 beyond 65,535 segments); the records hold category, area and
    (things) the detection's score and index.
    """

    ids: np.ndarray
    segments: list[Segment]
    labels: PanopticLabels

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.ids.shape[0]), int(self.ids.shape[1]))

    def category_map(self) -> np.ndarray:
        """(H, W) int32 category index per pixel, -1 on void."""
        lut = np.full(int(self.ids.max(initial=0)) + 1, -1, np.int32)
        for s in self.segments:
            lut[s.id] = s.category
        return lut[self.ids]

    def rgb(self) -> np.ndarray:
        """The COCO panoptic PNG picture: RGB with ``id = R + 256 G + 256^2 B`` (0 = void)."""
        return id_to_rgb(self.ids)

    def boxes(self) -> np.ndarray:
        """(N, 4) int64 COCO boxes ``[x, y, w, h]`` of the segments, in ``segments`` order."""
        out = np.zeros((len(self.segments), 4), np.int64)
        if not self.segments:
            return out
        top = int(self.ids.max(initial=0)) + 1
        big = np.iinfo(np.int64).max
        x1, y1 = np.full(top, big), np.full(top, big)
        x2, y2 = np.full(top, -1), np.full(top, -1)
        ys, xs = np.nonzero(self.ids)
        seg = self.ids[ys, xs].astype(np.int64)
        np.minimum.at(x1, seg, xs)
        np.minimum.at(y1, seg, ys)
        np.maximum.at(x2, seg, xs)
        np.maximum.at(y2, seg, ys)
        for i, s in enumerate(self.segments):
            out[i] = (x1[s.id], y1[s.id], x2[s.id] - x1[s.id] + 1, y2[s.id] - y1[s.id] + 1)
        return out

    def records(self) -> list[dict[str, Any]]:
        """COCO panoptic ``segments_info`` (``id``, ``category_id``, ``iscrowd``, ``bbox``,
        ``area``), plus the category's name, ``isthing`` and the score of things."""
        out = []
        for s, box in zip(self.segments, self.boxes(), strict=True):
            record: dict[str, Any] = {
                "id": s.id,
                "category_id": self.labels.category_ids[s.category],
                "category_name": self.labels.names[s.category],
                "isthing": int(s.isthing),
                "iscrowd": 0,
                "bbox": [int(v) for v in box],
                "area": s.area,
            }
            if s.score is not None:
                record["score"] = round(s.score, 5)
            out.append(record)
        return out


def _id_dtype(count: int) -> np.dtype:
    return np.dtype(np.uint16 if count < 65_536 else np.uint32)


def fuse(
    masks: InstanceMasks,
    scores: np.ndarray,
    classes: np.ndarray,
    semantic: np.ndarray,
    labels: PanopticLabels,
    options: FusionOptions | None = None,
) -> PanopticSegmentation:
    """The panoptic segmentation of one image (rule in the module docstring).

    Args:
        masks: the detections' instance masks in the image's pixels.
        scores: (N,) detection scores (walked in descending order, ties in the given order).
        classes: (N,) thing class of each detection.
        semantic: (H, W) semantic channel per pixel (:func:`.semantic.semantic_map`).
        labels: the model's categories (:class:`PanopticLabels`).
        options: thresholds; None: the reference's.
    """
    opts = options or FusionOptions()
    if masks.shape != semantic.shape:
        raise ValueError(f"masks of shape {masks.shape} for a {semantic.shape} semantic map")
    if len(masks) != len(scores) or len(scores) != len(classes):
        raise ValueError(f"{len(masks)} masks, {len(scores)} scores, {len(classes)} classes")
    h, w = semantic.shape
    ids = np.zeros((h, w), _id_dtype(len(masks) + len(labels.names) + 1))
    segments: list[Segment] = []
    for i in np.argsort(-np.asarray(scores, np.float64), kind="stable").tolist():
        score = float(scores[i])
        if score < opts.score_threshold:
            break
        crop, (top, left) = masks.crop(i)
        if crop.size == 0:
            continue
        view = ids[top : top + crop.shape[0], left : left + crop.shape[1]]
        free = crop & (view == 0)
        area = int(free.sum())
        if area == 0 or area < opts.min_kept_fraction * int(crop.sum()):
            continue
        seg_id = len(segments) + 1
        view[free] = seg_id
        category = int(labels.channel_category[int(classes[i])])
        segments.append(Segment(seg_id, category, True, area, score, i))
    lut = labels.channel_category.astype(np.int32)
    if int(semantic.max(initial=0)) >= len(lut):
        raise ValueError(
            f"semantic map has channel {int(semantic.max())}; the labels have {len(lut)}"
        )
    category = lut[semantic]
    stuff = (ids == 0) & (category >= labels.num_things)
    present, inverse, counts = np.unique(category[stuff], return_inverse=True, return_counts=True)
    keep = counts >= max(1, opts.min_stuff_area)
    new_ids = np.zeros(len(present), np.int64)
    for j in np.flatnonzero(keep):
        seg_id = len(segments) + 1
        new_ids[j] = seg_id
        segments.append(Segment(seg_id, int(present[j]), False, int(counts[j])))
    ids[stuff] = new_ids[inverse].astype(ids.dtype)
    return PanopticSegmentation(ids, segments, labels)
