"""YOLOv9 (GELAN + PGI) object detection, instance and panoptic segmentation in plain PyTorch.

The public names are imported on first use, so ``import yolov9`` (and ``yolov9 --help``) does
not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from yolov9.version import __version__

if TYPE_CHECKING:
    from yolov9.api import Detector, export, train, val
    from yolov9.models import YOLOv9, build_model, list_models
    from yolov9.serving import serve
    from yolov9.tasks.base import FusionOptions

_LAZY = {
    "Detector": "yolov9.api",
    "FusionOptions": "yolov9.tasks.base",
    "train": "yolov9.api",
    "val": "yolov9.api",
    "export": "yolov9.api",
    "YOLOv9": "yolov9.models",
    "build_model": "yolov9.models",
    "list_models": "yolov9.models",
    "serve": "yolov9.serving",
}

__all__ = [
    "Detector",
    "FusionOptions",
    "YOLOv9",
    "__version__",
    "build_model",
    "export",
    "list_models",
    "serve",
    "train",
    "val",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'yolov9' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
