"""Batched inference: letterbox -> fused model -> decode -> NMS -> boxes in original pixels."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from yolov9.data.images import PAD_VALUE, LetterboxInfo, boxes_to_original, letterbox
from yolov9.data.sources import Frame
from yolov9.deploy.backends import InferenceBackend
from yolov9.models import YOLOv9
from yolov9.utils.draw import draw_detections


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

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per detection."""
        return [
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

    def plot(self) -> np.ndarray:
        """The image (RGB) with the detections drawn."""
        if self.image is None:
            raise ValueError("this result keeps no image to draw on")
        return draw_detections(self.image, self.boxes, self.scores, self.labels, self.names)

    def save(self, path: str | Path) -> Path:
        """Write the annotated image (format from the suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), cv2.cvtColor(self.plot(), cv2.COLOR_RGB2BGR)):
            raise OSError(f"could not write {path}")
        return path


PRECISIONS = ("fp32", "fp16", "bf16")


def prepare_for_inference(model: YOLOv9, device: torch.device, precision: str = "fp32") -> YOLOv9:
    """A copy of ``model`` for inference: auxiliary branch dropped, BN and RepConvN fused,
    channels-last memory layout (faster convolutions on CPU and GPU), on ``device``.

    ``fp16`` stores the weights in half precision (CUDA); ``bf16`` keeps fp32 weights and
    runs under bfloat16 autocast (see :meth:`Predictor.infer`).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 inference needs a CUDA device; use bf16 on the CPU")
    net = copy.deepcopy(model).drop_aux().eval().fuse()
    net = net.to(device=device, memory_format=torch.channels_last)
    return net.half() if precision == "fp16" else net


class Predictor:
    """Letterbox -> backend (PyTorch model or exported file) -> NMS -> original pixels."""

    def __init__(self, backend: InferenceBackend, *, imgsz: int | None = None) -> None:
        imgsz = imgsz or backend.imgsz
        if imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32, got {imgsz}")
        self.backend = backend
        self.names = list(backend.names)
        self.imgsz = imgsz
        self.device = backend.device

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
    ) -> Iterator[Result]:
        if classes is not None and any(not 0 <= c < len(self.names) for c in classes):
            raise ValueError(f"classes {classes} outside 0..{len(self.names) - 1}")
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
        pending: list[Frame] = []
        for frame in frames:
            pending.append(frame)
            if len(pending) == batch_size:
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
        for frame, det, info in zip(frames, dets, infos, strict=False):
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
            )
