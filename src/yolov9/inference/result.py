"""The result of inference on one image: detections in that image's pixels."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yolov9.tasks.panoptic import PanopticSegmentation
from yolov9.tasks.segment.masks import InstanceMasks, mask_records
from yolov9.utils.draw import draw_caption, draw_detections, draw_regions


@dataclass
class Result:
    """Detections of one image, in that image's pixel coordinates.

    Attributes:
        boxes: (N, 4) float32 xyxy boxes.
        scores: (N,) float32 confidences, descending.
        labels: (N,) int64 class ids.
        names: class names, indexed by class id.
        orig_shape: (h, w) of the image.
        path: source file, if any; ``frame``, ``fps``: index and frame rate inside a video.
        image: the RGB image itself (kept for :meth:`plot`).
        masks: per-detection instance masks in the image's pixels, for segmentation models
            (None for detection).
        track_ids: (N,) int64 track ids when the result comes from tracking (None
            otherwise); a tracked result holds only the detections that belong to a track.
        semantic: panoptic models: (H, W) semantic channel per pixel (things first, then
            stuff; uint8 below 257 channels, else uint16).
        panoptic: panoptic models: the segment id map and one record per segment, fused
            from the instances and the semantic map (``yolov9.tasks.panoptic.fusion``).
        caption: caption models: the image's caption; ``caption_score`` its score (the
            geometric mean of its tokens' probabilities, ``yolov9.models.caption_search``).
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    names: list[str]
    orig_shape: tuple[int, int]
    path: str | None = None
    frame: int | None = None
    fps: float | None = None
    image: np.ndarray | None = field(default=None, repr=False)
    masks: InstanceMasks | None = field(default=None, repr=False)
    track_ids: np.ndarray | None = None
    semantic: np.ndarray | None = field(default=None, repr=False)
    panoptic: PanopticSegmentation | None = field(default=None, repr=False)
    caption: str | None = None
    caption_score: float | None = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, indices: np.ndarray, track_ids: np.ndarray | None = None) -> Result:
        """The detections at ``indices`` (in that order), with their masks, optionally
        labelled with ``track_ids``. The semantic map and the panoptic segmentation stay the
        image's; its thing segments point to their detection's new index (None when it was
        not selected)."""
        idx = np.asarray(indices, np.int64).reshape(-1)
        panoptic = self.panoptic
        if panoptic is not None:
            new = {int(old): i for i, old in enumerate(idx)}
            segments = [
                dataclasses.replace(s, detection=new.get(s.detection))
                if s.detection is not None
                else s
                for s in panoptic.segments
            ]
            panoptic = dataclasses.replace(panoptic, segments=segments)
        return dataclasses.replace(
            self,
            boxes=self.boxes[idx],
            scores=self.scores[idx],
            labels=self.labels[idx],
            masks=self.masks.select(idx) if self.masks is not None else None,
            panoptic=panoptic,
            track_ids=None if track_ids is None else np.asarray(track_ids, np.int64).reshape(-1),
        )

    def records(self, mask_format: str | None = "rle") -> list[dict[str, Any]]:
        """One JSON-ready dict per detection.

        With masks, each record also holds ``"mask"``, in the image's pixels: a COCO RLE
        ``{"size": [h, w], "counts": str}`` (``mask_format="rle"``) or a list of flat
        ``[x1, y1, x2, y2, ...]`` outer-boundary polygons (``"polygon"``); ``None`` leaves
        masks out. Detection results are unaffected by ``mask_format``.

        A caption model's result ends with one record for the image itself: ``file``,
        ``frame``, ``caption`` and ``caption_score`` (no ``box``).
        """
        out = [
            {
                "file": self.path,
                "frame": self.frame,
                "box": [round(float(v), 2) for v in box],
                "score": round(float(score), 5),
                "class_id": int(label),
                "class_name": self.names[int(label)],
            }
            for box, score, label in zip(self.boxes, self.scores, self.labels, strict=True)
        ]
        if self.track_ids is not None:
            for record, tid in zip(out, self.track_ids, strict=True):
                record["track_id"] = int(tid)
        if mask_format not in (None, "rle", "polygon"):
            raise ValueError(f"mask_format must be 'rle' or 'polygon', got {mask_format!r}")
        if self.masks is not None and mask_format is not None:
            self._check_masks()
            for record, mask in zip(out, mask_records(self.masks, mask_format), strict=True):
                record["mask"] = mask
        if self.caption is not None:
            score = None if self.caption_score is None else round(float(self.caption_score), 5)
            out.append(
                {
                    "file": self.path,
                    "frame": self.frame,
                    "caption": self.caption,
                    "caption_score": score,
                }
            )
        return out

    def _check_masks(self) -> None:
        if self.masks is not None and (
            len(self.masks) != len(self) or self.masks.shape != tuple(self.orig_shape)
        ):
            raise ValueError(
                f"{len(self.masks)} masks of shape {self.masks.shape} for {len(self)} "
                f"detections in a {tuple(self.orig_shape)} image"
            )

    def plot(self) -> np.ndarray:
        """The image (RGB) with the detections drawn: translucent masks (if any) under the
        boxes and captions."""
        if self.image is None:
            raise ValueError("this result keeps no image to draw on")
        self._check_masks()
        image = self.image
        if self.panoptic is not None:  # stuff regions (with their names) under the instances
            image = draw_regions(image, *self._stuff_regions())
        drawn = draw_detections(
            image,
            self.boxes,
            self.scores,
            self.labels,
            self.names,
            masks=self.masks.crop if self.masks is not None else None,
            track_ids=self.track_ids,
        )
        return draw_caption(drawn, self.caption) if self.caption else drawn

    def _stuff_regions(self) -> tuple[np.ndarray, list[str], list[int]]:
        """The panoptic stuff segments as a region map (0: none, i: the i-th name). A model
        without stuff channels (trained on semantic label maps alone) has none: its semantic
        map is drawn instead, every class present a region."""
        assert self.panoptic is not None
        pan = self.panoptic
        if pan.labels.num_things == len(pan.labels.names) and self.semantic is not None:
            present = np.unique(self.semantic).tolist()
            lut = np.zeros(int(max(present, default=0)) + 1, np.int32)
            lut[present] = np.arange(1, len(present) + 1)
            return lut[self.semantic], [pan.labels.names[c] for c in present], present
        stuff = [s for s in pan.segments if not s.isthing]
        lut = np.zeros(int(pan.ids.max(initial=0)) + 1, np.int32)
        for i, s in enumerate(stuff, start=1):
            lut[s.id] = i
        names = [pan.labels.names[s.category] for s in stuff]
        return lut[pan.ids], names, [s.category for s in stuff]

    def save(self, path: str | Path) -> Path:
        """Write the annotated image (format from the suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), cv2.cvtColor(self.plot(), cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {path}")
        return path
