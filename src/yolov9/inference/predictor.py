"""Batched inference: letterbox -> fused model -> decode -> NMS -> boxes in original pixels."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from yolov9.data.images import (
    PAD_VALUE,
    LetterboxInfo,
    boxes_to_original,
    letterbox,
    letterboxed_shape,
)
from yolov9.data.sources import Frame
from yolov9.errors import ConfigError
from yolov9.inference.backends import InferenceBackend
from yolov9.inference.result import Result
from yolov9.inference.tiles import TiledDetector, TileOptions
from yolov9.tasks.base import FusionOptions, PostprocessOptions
from yolov9.tasks.registry import get_task
from yolov9.utils.threads import ThreadGovernor


class Predictor:
    """Letterbox -> backend (PyTorch model or exported file) -> NMS -> original pixels.

    The task adds its fields to each result (``Task.postprocess``): segmentation models give
    each detection its mask in original pixels, the reference's masks (prototype resolution,
    cropped to the box, upsampled to the network input, > 0.5) mapped back through the
    letterbox, or with ``full_res_masks`` computed from the prototypes straight at the
    image's resolution (see :mod:`yolov9.tasks.segment.masks`).

    A call with ``tile`` runs each image as overlapping tiles at its own resolution, merged
    afterwards (small objects; see :mod:`yolov9.inference.tiles`).
    """

    def __init__(
        self,
        backend: InferenceBackend,
        *,
        imgsz: int | None = None,
        full_res_masks: bool = False,
        fusion: FusionOptions | None = None,
    ) -> None:
        imgsz = imgsz or backend.imgsz
        if imgsz % 32:
            raise ConfigError(f"imgsz must be a multiple of 32, got {imgsz}")
        self.task = get_task(backend.task)
        if full_res_masks and not self.task.gives("masks"):
            raise ConfigError(
                f"full-resolution masks need a segmentation model; {backend.describe()} "
                "is a detection model"
            )
        self.full_res_masks = full_res_masks
        self.backend = backend
        self.names = list(backend.names)
        self.post = PostprocessOptions(
            full_res_masks=full_res_masks,
            names=tuple(self.names),
            stuff_names=tuple(backend.stuff_names),
            fusion=fusion or FusionOptions(),
        )
        self.imgsz = imgsz
        self.device = backend.device
        # fewer threads while other processes take cores; kept across calls, so that calls
        # of one image each adapt too
        self.governor = ThreadGovernor()

    @property
    def tiles_apply(self) -> bool:
        """Whether sliced inference applies to the model: not to panoptic or caption models
        yet (the semantic maps or captions of tiles are not merged)."""
        return not (self.task.gives("panoptic") or self.task.gives("caption"))

    def input_shape(self, image_shape: tuple[int, int]) -> tuple[int, int]:
        """The (h, w) an image of ``image_shape`` is letterboxed to: images of the same input
        shape batch together without extra padding, so with the results they get alone."""
        fixed = self.backend.fixed_shape
        return letterboxed_shape(image_shape, fixed or self.imgsz, auto=fixed is None)

    def preprocess(self, images: list[np.ndarray]) -> tuple[torch.Tensor, list[LetterboxInfo]]:
        """Letterbox each RGB image (minimal stride padding, or the export's fixed input
        shape) and pad them to a common batch shape."""
        fixed = self.backend.fixed_shape
        target = fixed or self.imgsz
        boxed, infos = zip(
            *(letterbox(im, target, auto=fixed is None) for im in images), strict=True
        )
        h = max(b.shape[0] for b in boxed)
        w = max(b.shape[1] for b in boxed)
        batch = np.full((len(boxed), h, w, 3), PAD_VALUE, dtype=np.uint8)
        for i, b in enumerate(boxed):
            batch[i, : b.shape[0], : b.shape[1]] = b
        # NHWC uint8 -> NCHW view with channels-last strides: no copy before the division
        tensor = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0)
        return tensor, list(infos)

    def __call__(
        self,
        frames: Iterable[Frame],
        *,
        batch_size: int = 1,
        conf: float = 0.25,
        iou: float = 0.45,
        max_det: int = 300,
        classes: list[int] | None = None,
        agnostic: bool = False,
        multi_label: bool = False,
        tile: TileOptions | None = None,
    ) -> Iterator[Result]:
        if classes is not None and any(not 0 <= c < len(self.names) for c in classes):
            raise ConfigError(f"classes {classes} outside 0..{len(self.names) - 1}")
        if self.backend.fixed_batch is not None:
            batch_size = self.backend.fixed_batch
        nms = {
            "conf": conf,
            "iou": iou,
            "max_det": max_det,
            "classes": classes,
            "agnostic": agnostic,
            "multi_label": multi_label,
        }
        if tile is not None:
            if not self.tiles_apply:
                raise ConfigError(
                    f"tiles do not apply to {self.task.description} models yet (the "
                    "semantic maps or captions of tiles are not merged); predict without them"
                )
            tiler = TiledDetector(
                self.backend, tile, imgsz=self.imgsz, full_res_masks=self.full_res_masks
            )
            for frame in frames:
                self.governor.poll()
                yield self._run_tiled(tiler, frame, nms)
            return
        pending: list[Frame] = []
        for frame in frames:
            pending.append(frame)
            if len(pending) == batch_size:
                self.governor.poll()
                yield from self._run(pending, nms)
                pending = []
        if pending:
            yield from self._run(pending, nms)

    def _run(self, frames: list[Frame], nms: dict[str, Any]) -> Iterator[Result]:
        batch, infos = self.preprocess([f.image for f in frames])
        if self.backend.fixed_batch is not None and batch.shape[0] < self.backend.fixed_batch:
            pad = batch[-1:].expand(self.backend.fixed_batch - batch.shape[0], -1, -1, -1)
            batch = torch.cat((batch, pad))
        dets = self.backend.detect(batch, **nms)
        input_shape = (int(batch.shape[2]), int(batch.shape[3]))
        for frame, det, info in zip(frames, dets, infos, strict=False):
            fields = self.task.postprocess(det, input_shape, info, self.post)
            yield Result(
                boxes=boxes_to_original(det.boxes.cpu().numpy(), info),
                scores=det.scores.cpu().numpy().astype(np.float32),
                labels=det.labels.cpu().numpy().astype(np.int64),
                names=self.names,
                orig_shape=info.original_shape,
                path=frame.path,
                frame=frame.frame,
                fps=frame.fps,
                image=frame.image,
                **fields,
            )

    def _run_tiled(self, tiler: TiledDetector, frame: Frame, nms: dict[str, Any]) -> Result:
        det = tiler(frame.image, nms)
        return Result(
            boxes=det.boxes,
            scores=det.scores,
            labels=det.labels,
            names=self.names,
            orig_shape=(int(frame.image.shape[0]), int(frame.image.shape[1])),
            path=frame.path,
            frame=frame.frame,
            fps=frame.fps,
            image=frame.image,
            masks=det.masks,
        )
