"""The Python API: ``Detector.from_pretrained("yolov9-c-converted").predict("bus.jpg")``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolov9.data.sources import Frame, iter_frames, list_media
from yolov9.deploy.backends import InferenceBackend, TorchBackend, load_backend
from yolov9.engine.predictor import Predictor, Result
from yolov9.models import YOLOv9

Source = str | Path | np.ndarray | Sequence[str | Path | np.ndarray]


def _frames(source: Source, skipped: list[str] | None) -> Iterator[Frame]:
    items = source if isinstance(source, (list, tuple)) else [source]
    for item in items:
        if isinstance(item, np.ndarray):
            if item.ndim != 3 or item.shape[2] != 3 or item.dtype != np.uint8:
                raise ValueError("arrays must be RGB uint8 of shape (H, W, 3)")
            yield Frame(item)
        else:
            yield from iter_frames(list_media(item), skipped=skipped)


class Detector:
    """A model ready for inference, with its class names.

    Args:
        model: a :class:`YOLOv9` (the auxiliary branch, if any, is dropped for inference), or
            an :class:`~yolov9.deploy.backends.InferenceBackend` (an exported model).
        names: class names by id (taken from the backend when one is given).
        imgsz: inference size (longer image side), a multiple of 32.
        device: ``"auto"`` (default), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        precision: ``"fp32"`` (default), ``"fp16"`` (CUDA) or ``"bf16"`` (autocast; about 3x
            faster on CPUs with AVX-512 BF16 or AMX).
    """

    def __init__(
        self,
        model: YOLOv9 | InferenceBackend,
        names: Sequence[str] | None = None,
        *,
        imgsz: int | None = None,
        device: str | torch.device | None = None,
        precision: str = "fp32",
    ) -> None:
        if isinstance(model, InferenceBackend):
            backend = model
        else:
            if names is None:
                raise ValueError("give the class names of the model")
            backend = TorchBackend(
                model, list(names), imgsz=imgsz or 640, device=device, precision=precision
            )
        self.backend = backend
        self.names = list(backend.names)
        self.predictor = Predictor(backend, imgsz=imgsz)

    @classmethod
    def from_pretrained(
        cls,
        weights: str | Path,
        *,
        imgsz: int | None = None,
        device: str | torch.device | None = None,
        precision: str = "fp32",
    ) -> Detector:
        """Load a checkpoint (any supported format, by path or release name) or an exported
        model (``.onnx``, OpenVINO ``.xml``, ``.torchscript``)."""
        return cls(
            load_backend(weights, device=device, precision=precision, imgsz=imgsz), imgsz=imgsz
        )

    @property
    def model(self) -> YOLOv9 | None:
        """The prepared PyTorch model (None for exported models)."""
        return getattr(self.backend, "model", None)

    @property
    def device(self) -> torch.device:
        return self.backend.device

    def stream(
        self, source: Source, *, batch_size: int = 1, skipped: list[str] | None = None, **kw: Any
    ) -> Iterator[Result]:
        """Results one by one (use for videos and large folders).

        Keyword arguments: ``conf`` (0.25), ``iou`` (0.45), ``max_det`` (300), ``classes``,
        ``agnostic``, ``multi_label``. Pass a list as ``skipped`` to skip unreadable files
        (their paths are appended) instead of raising.
        """
        return self.predictor(_frames(source, skipped), batch_size=batch_size, **kw)

    def predict(self, source: Source, *, batch_size: int = 1, **kw: Any) -> list[Result]:
        """Results for an image path, folder, glob, video, RGB array, or a list of them."""
        return list(self.stream(source, batch_size=batch_size, **kw))

    __call__ = predict
