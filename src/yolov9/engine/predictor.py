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
from yolov9.models import YOLOv9
from yolov9.ops.nms import non_max_suppression
from yolov9.utils.device import select_device
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
    """Runs a model for inference. The model is copied and prepared with
    :func:`prepare_for_inference`; the caller's model is not modified."""

    def __init__(
        self,
        model: YOLOv9,
        names: list[str],
        *,
        imgsz: int = 640,
        device: str | torch.device | None = None,
        precision: str = "fp32",
    ) -> None:
        if imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32, got {imgsz}")
        self.device = select_device(device)
        self.precision = precision
        self.model = prepare_for_inference(model, self.device, precision)
        self.names = list(names)
        self.imgsz = imgsz

    def preprocess(self, images: list[np.ndarray]) -> tuple[torch.Tensor, list[LetterboxInfo]]:
        """Letterbox each RGB image (minimal stride padding), pad to a common batch shape."""
        boxed, infos = zip(*(letterbox(im, self.imgsz, auto=True) for im in images), strict=True)
        h = max(b.shape[0] for b in boxed)
        w = max(b.shape[1] for b in boxed)
        batch = np.full((len(boxed), h, w, 3), PAD_VALUE, dtype=np.uint8)
        for i, b in enumerate(boxed):
            batch[i, : b.shape[0], : b.shape[1]] = b
        # NHWC uint8 -> NCHW view with channels-last strides: no copy before the division
        tensor = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2)
        tensor = tensor.half() if self.precision == "fp16" else tensor.float()
        return tensor.div_(255.0), list(infos)

    @torch.inference_mode()
    def infer(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> (boxes_xyxy (B, A, 4), scores (B, A, C)) in input pixels, float32."""
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
            out = self.model(batch)
        boxes, scores = self.model.head.decode(
            out.main._replace(pred_dist=out.main.pred_dist.float())
        )
        return boxes.float(), scores.float()

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
        pending: list[Frame] = []
        for frame in frames:
            pending.append(frame)
            if len(pending) == batch_size:
                yield from self._run(pending, conf, iou, max_det, classes, agnostic, multi_label)
                pending = []
        if pending:
            yield from self._run(pending, conf, iou, max_det, classes, agnostic, multi_label)

    def _run(
        self,
        frames: list[Frame],
        conf: float,
        iou: float,
        max_det: int,
        classes: list[int] | None,
        agnostic: bool,
        multi_label: bool,
    ) -> Iterator[Result]:
        batch, infos = self.preprocess([f.image for f in frames])
        boxes, scores = self.infer(batch)
        dets = non_max_suppression(
            boxes,
            scores,
            conf_threshold=conf,
            iou_threshold=iou,
            max_det=max_det,
            multi_label=multi_label,
            agnostic=agnostic,
            classes=classes,
        )
        for frame, det, info in zip(frames, dets, infos, strict=True):
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
