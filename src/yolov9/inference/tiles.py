"""Sliced inference for small objects: the image is cut into overlapping tiles that run at
their own resolution (no down-scaling), batched through the network, and the detections are
mapped back into the image and merged.

Rules
-----
* Tiles are ``size`` x ``size`` windows of the original image. Along each axis they start at
  0, then every ``step = size - floor(size * overlap)`` pixels; the last window is moved back
  so that it ends at the image's edge (no tile hangs over it). This is SAHI's grid: on our
  benchmark a grid one pixel finer moved AP by 0.02 at low confidence, so comparisons keep it.
  An image shorter than ``size`` along an axis gets one window there, its full extent (a tile
  larger than the image is the image).
* Each window runs at its own pixels: the crop is placed at the top-left of a network input
  of the window's size rounded up to the stride (an exported model's fixed input shape, if it
  has one), the rest padded with the letterbox grey. Every window of an image has the same
  size: ``size``, or the image's side where that is shorter. A box found at
  ``(x1, y1, x2, y2)`` in tile ``(x0, y0)`` is ``(x1 + x0, y1 + y0, x2 + x0, y2 + y0)`` in
  the image, clipped to the window.
* ``whole=True`` adds the whole image, letterboxed to the model's size as in plain prediction
  (large objects that no tile holds entirely).
* Merging (:func:`merge_groups`): by descending score, each remaining detection takes every
  lower-scoring remaining one of the same class (any class when agnostic) whose match with it
  exceeds ``threshold``; the match is IoU, or IoS (intersection over the smaller box's area,
  which also catches a box cut by a tile's border inside the whole object). With
  ``merge="nms"`` (the default) the taken detections are dropped; with ``merge="nmm"``
  (greedy non-maximum merging, as SAHI does) they are merged in, by descending score, each
  only if it still matches the box merged so far (SAHI's rule; the others are dropped): the
  union of the boxes (and masks), with the highest score and its class. On our small-object
  benchmark NMS scores 0.67 AP against NMM's 0.55: at evaluation's low confidence, merging
  grows good boxes with weak neighbours (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from yolov9.data.images import PAD_VALUE, LetterboxInfo, boxes_to_original, letterbox
from yolov9.errors import ConfigError
from yolov9.inference.backends import InferenceBackend
from yolov9.ops.nms import Detections
from yolov9.tasks.registry import get_task
from yolov9.tasks.segment.masks import InstanceMasks, masks_for_image

STRIDE = 32
MERGES = ("nmm", "nms")
METRICS = ("ios", "iou")


@dataclass(frozen=True)
class TileOptions:
    """How to slice: tile side in image pixels, overlap fraction, the whole image as one more
    input, and the merge rule (see the module's docstring)."""

    size: int
    overlap: float = 0.2
    whole: bool = False
    merge: str = "nms"
    metric: str = "ios"
    threshold: float = 0.5
    batch: int | None = None  # tiles per forward pass (None: see tile_batch)

    def __post_init__(self) -> None:
        if self.size < STRIDE:
            raise ConfigError(
                f"tile size {self.size} is smaller than the model's stride {STRIDE}: "
                f"use --tile {STRIDE} or more"
            )
        if not 0.0 <= self.overlap < 1.0:
            raise ConfigError(f"tile overlap must be in [0, 1), got {self.overlap}")
        if self.merge not in MERGES:
            raise ConfigError(f"tile merge must be one of {MERGES}, got {self.merge!r}")
        if self.metric not in METRICS:
            raise ConfigError(f"tile match metric must be one of {METRICS}, got {self.metric!r}")
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"tile match threshold must be in (0, 1], got {self.threshold}")
        if self.batch is not None and self.batch < 1:
            raise ConfigError(f"tile batch must be at least 1, got {self.batch}")

    @property
    def tile_batch(self) -> int:
        """Tiles per forward pass: as many as hold the pixels of eight 640 px tiles, at most
        32 (batch 32 of 256 px tiles ran 8 % faster than 8 on 2 CPU cores, batch 1 2.3x
        slower)."""
        if self.batch is not None:
            return self.batch
        return max(1, min(32, (8 * 640 * 640) // (self.size * self.size)))


# flat names of the tile settings (API keywords, ValOptions fields) -> TileOptions fields
TILE_KEYS = {
    "tile_overlap": "overlap",
    "tile_whole": "whole",
    "tile_merge": "merge",
    "tile_match": "metric",
    "tile_threshold": "threshold",
}


def tile_options(tile: int | TileOptions | None, **values: Any) -> TileOptions | None:
    """Tile settings from flat values (API keywords, ``ValOptions``): ``tile`` (a size or a
    :class:`TileOptions`) and any of :data:`TILE_KEYS`; None without ``tile``.

    Raises:
        ConfigError: an unknown setting, or settings given without ``tile``.
    """
    unknown = sorted(set(values) - set(TILE_KEYS))
    if unknown:
        raise ConfigError(f"unknown tile setting(s) {unknown}; known: {sorted(TILE_KEYS)}")
    if tile is None:
        if values:
            raise ConfigError(f"{sorted(values)} need tile=SIZE")
        return None
    if isinstance(tile, TileOptions):
        return tile
    return TileOptions(int(tile), **{TILE_KEYS[k]: v for k, v in values.items()})


def tile_starts(length: int, size: int, overlap: float) -> list[int]:
    """Window starts along one axis of ``length`` pixels (see the module's rules)."""
    if length <= size:
        return [0]
    step = max(1, size - math.floor(size * overlap))
    starts = list(range(0, length - size + 1, step))
    if starts[-1] != length - size:
        starts.append(length - size)
    return starts


def tile_windows(shape: tuple[int, int], size: int, overlap: float) -> np.ndarray:
    """(T, 4) int xyxy windows covering an image of ``shape`` (h, w), row by row."""
    h, w = shape
    ys, xs = tile_starts(h, size, overlap), tile_starts(w, size, overlap)
    return np.array(
        [(x, y, min(x + size, w), min(y + size, h)) for y in ys for x in xs], np.int64
    ).reshape(-1, 4)


def match_matrix(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """(N, M) IoU or IoS (intersection over the smaller area) of xyxy boxes."""
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clamp(min=0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clamp(min=0).prod(-1)
    if metric == "iou":
        denom = area_a[:, None] + area_b[None, :] - inter
    else:
        denom = torch.minimum(area_a[:, None], area_b[None, :])
    return inter / denom.clamp(min=1e-9)


def merge_groups(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    metric: str = "ios",
    threshold: float = 0.5,
    agnostic: bool = False,
) -> list[list[int]]:
    """Greedy grouping by descending score: each group is ``[kept, taken...]`` (indices into
    the inputs), groups by descending score of their first member."""
    n = len(scores)
    if n == 0:
        return []
    scores = np.asarray(scores)
    if not agnostic:  # class by class: N x N matrices only within a class
        labels = np.asarray(labels)
        groups: list[list[int]] = []
        for label in np.unique(labels):
            idx = np.flatnonzero(labels == label)
            groups += [
                [int(idx[k]) for k in g]
                for g in merge_groups(
                    boxes[idx],
                    scores[idx],
                    labels[idx],
                    metric=metric,
                    threshold=threshold,
                    agnostic=True,
                )
            ]
        return sorted(groups, key=lambda g: (-float(scores[g[0]]), g[0]))
    order = np.argsort(-scores, kind="stable")
    t = torch.from_numpy(np.asarray(boxes, np.float32)[order])
    over = (match_matrix(t, t, metric) > threshold).numpy()
    alive = np.ones(n, bool)
    groups = []
    for i in range(n):
        if not alive[i]:
            continue
        taken = np.flatnonzero(over[i] & alive)
        taken = taken[taken > i]
        alive[taken] = False
        groups.append([int(order[i]), *(int(order[j]) for j in taken)])
    return groups


@dataclass
class TiledDetections:
    """Merged detections of one image, in its pixels."""

    boxes: np.ndarray  # (N, 4) float32 xyxy
    scores: np.ndarray  # (N,) float32, descending
    labels: np.ndarray  # (N,) int64
    masks: InstanceMasks | None = None


@dataclass
class _Part:
    """The detections of one network input and how to map them into the image."""

    det: Detections
    info: LetterboxInfo  # input -> window pixels
    offset: tuple[int, int]  # the window's (x0, y0) in the image
    input_shape: tuple[int, int]


class TiledDetector:
    """Runs one image as tiles through a backend and merges the detections."""

    def __init__(
        self,
        backend: InferenceBackend,
        options: TileOptions,
        *,
        imgsz: int,
        full_res_masks: bool = False,
    ) -> None:
        fixed = backend.fixed_shape
        if fixed is not None and (options.size > fixed[0] or options.size > fixed[1]):
            raise ConfigError(
                f"this export takes {fixed[0]}x{fixed[1]} inputs: use --tile {min(fixed)} or "
                "less, or export with --dynamic"
            )
        self.backend, self.options, self.imgsz = backend, options, imgsz
        self.full_res_masks = full_res_masks

    def input_shape(self, shape: tuple[int, int]) -> tuple[int, int]:
        """The network input (h, w) for the windows of an image of ``shape``: the window
        (the tile, or the image's side where it is shorter) rounded up to the stride, or an
        export's fixed input shape."""
        fixed = self.backend.fixed_shape
        if fixed is not None:
            return fixed
        h, w = (min(side, self.options.size) for side in shape)
        return math.ceil(h / STRIDE) * STRIDE, math.ceil(w / STRIDE) * STRIDE

    def __call__(self, image: np.ndarray, nms: dict[str, Any]) -> TiledDetections:
        h, w = image.shape[:2]
        windows = tile_windows((h, w), self.options.size, self.options.overlap)
        input_shape = self.input_shape((h, w))
        parts: list[_Part] = []
        batch = self.options.tile_batch
        for start in range(0, len(windows), batch):
            chunk = windows[start : start + batch]
            inputs = np.full((len(chunk), *input_shape, 3), PAD_VALUE, np.uint8)
            for k, (x0, y0, x1, y1) in enumerate(chunk):
                inputs[k, : y1 - y0, : x1 - x0] = image[y0:y1, x0:x1]
            dets = self._detect(inputs, nms)
            for (x0, y0, x1, y1), det in zip(chunk, dets, strict=False):
                info = LetterboxInfo(1.0, (0.0, 0.0), (int(y1 - y0), int(x1 - x0)))
                parts.append(_Part(det, info, (int(x0), int(y0)), input_shape))
        if self.options.whole:
            parts.append(self._whole(image, nms))
        return self._merge(parts, (h, w), nms)

    def _detect(self, inputs: np.ndarray, nms: dict[str, Any]) -> list[Detections]:
        tensor = torch.from_numpy(inputs).permute(0, 3, 1, 2).float().div_(255.0)
        fixed = self.backend.fixed_batch
        if fixed is not None and tensor.shape[0] != fixed:
            dets: list[Detections] = []
            for s in range(0, tensor.shape[0], fixed):
                part = tensor[s : s + fixed]
                if part.shape[0] < fixed:
                    pad = part[-1:].expand(fixed - part.shape[0], -1, -1, -1)
                    part = torch.cat((part, pad))
                dets += self.backend.detect(part, **nms)[: min(fixed, tensor.shape[0] - s)]
            return dets
        return self.backend.detect(tensor, **nms)

    def _whole(self, image: np.ndarray, nms: dict[str, Any]) -> _Part:
        fixed = self.backend.fixed_shape
        boxed, info = letterbox(image, fixed or self.imgsz, auto=fixed is None)
        det = self._detect(boxed[None], nms)[0]
        return _Part(det, info, (0, 0), (boxed.shape[0], boxed.shape[1]))

    def _merge(
        self, parts: list[_Part], shape: tuple[int, int], nms: dict[str, Any]
    ) -> TiledDetections:
        boxes, scores, labels, owner = [], [], [], []
        for p, part in enumerate(parts):
            b = boxes_to_original(part.det.boxes.cpu().numpy(), part.info)
            boxes.append(b + np.array([*part.offset, *part.offset], np.float32))
            scores.append(part.det.scores.cpu().numpy().astype(np.float32))
            labels.append(part.det.labels.cpu().numpy().astype(np.int64))
            owner += [(p, i) for i in range(len(part.det))]
        all_boxes = np.concatenate(boxes) if boxes else np.zeros((0, 4), np.float32)
        all_scores = np.concatenate(scores) if scores else np.zeros(0, np.float32)
        all_labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        groups = merge_groups(
            all_boxes,
            all_scores,
            all_labels,
            metric=self.options.metric,
            threshold=self.options.threshold,
            agnostic=bool(nms.get("agnostic")),
        )[: int(nms.get("max_det", 300))]
        if self.options.merge == "nms":
            groups = [g[:1] for g in groups]
        else:
            groups = [
                _still_matching(g, all_boxes, self.options.metric, self.options.threshold)
                for g in groups
            ]
        first = np.array([g[0] for g in groups], np.int64)
        out_boxes = np.array(
            [np.concatenate((all_boxes[g, :2].min(0), all_boxes[g, 2:].max(0))) for g in groups],
            np.float32,
        ).reshape(-1, 4)
        masks = None
        if get_task(self.backend.task).gives("masks"):
            masks = self._masks(parts, owner, groups, shape)
        return TiledDetections(out_boxes, all_scores[first], all_labels[first], masks)

    def _masks(
        self,
        parts: list[_Part],
        owner: list[tuple[int, int]],
        groups: list[list[int]],
        shape: tuple[int, int],
    ) -> InstanceMasks:
        """Each group's mask (the union of its members'), computed only for the members."""
        wanted: dict[int, list[int]] = {}
        for g in groups:
            for k in g:
                wanted.setdefault(owner[k][0], []).append(owner[k][1])
        placed: dict[tuple[int, int], tuple[np.ndarray, tuple[int, int]]] = {}
        for p, idx in wanted.items():
            part = parts[p]
            if part.det.coeffs is None or part.det.protos is None:
                raise ConfigError("this segmentation backend returned no mask coefficients")
            sel = torch.tensor(idx, dtype=torch.long)
            local = masks_for_image(
                part.det.protos,
                part.det.coeffs[sel],
                part.det.boxes[sel],
                part.input_shape,
                part.info,
                full_resolution=self.full_res_masks,
            )
            x0, y0 = part.offset
            for j, i in enumerate(idx):
                crop, (top, left) = local.crop(j)
                placed[(p, i)] = (crop, (top + y0, left + x0))
        crops, offsets = [], []
        for g in groups:
            members = [placed[owner[k]] for k in g]
            crop, offset = _union(members) if len(members) > 1 else members[0]
            crops.append(crop)
            offsets.append(offset)
        return InstanceMasks.from_crops(shape, crops, offsets)


def _still_matching(
    group: list[int], boxes: np.ndarray, metric: str, threshold: float
) -> list[int]:
    """The members that still match the box merged so far, taken by descending score (the
    group's order), the first always."""
    kept = group[:1]
    merged = boxes[group[0]].astype(np.float32)
    for k in group[1:]:
        pair = torch.from_numpy(np.stack([merged, boxes[k]]).astype(np.float32))
        if float(match_matrix(pair[:1], pair[1:], metric)[0, 0]) > threshold:
            kept.append(k)
            merged = np.concatenate(
                (np.minimum(merged[:2], boxes[k, :2]), np.maximum(merged[2:], boxes[k, 2:]))
            )
    return kept


def _union(
    members: list[tuple[np.ndarray, tuple[int, int]]],
) -> tuple[np.ndarray, tuple[int, int]]:
    """The union of bool crops placed at (top, left): one crop over their bounds."""
    live = [(c, o) for c, o in members if c.size]
    if not live:
        return members[0]
    top = min(o[0] for _, o in live)
    left = min(o[1] for _, o in live)
    bottom = max(o[0] + c.shape[0] for c, o in live)
    right = max(o[1] + c.shape[1] for c, o in live)
    out = np.zeros((bottom - top, right - left), bool)
    for c, (t, lft) in live:
        out[t - top : t - top + c.shape[0], lft - left : lft - left + c.shape[1]] |= c
    return out, (top, left)
