"""YOLOv9 (GELAN + PGI) object detection in plain PyTorch."""

from yolov9.api import Detector
from yolov9.models import YOLOv9, build_model, list_models

__version__ = "0.1.0"

__all__ = ["Detector", "YOLOv9", "__version__", "build_model", "list_models"]
