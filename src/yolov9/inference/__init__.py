"""Inference, below both training and deployment: the inference graph of a model, the backends
that run a model or an exported file, the predictor (letterbox -> backend -> NMS -> original
pixels) and its results."""

from yolov9.inference.backends import InferenceBackend, TorchBackend
from yolov9.inference.graph import PRECISIONS, inference_graph
from yolov9.inference.loader import load_backend
from yolov9.inference.predictor import Predictor
from yolov9.inference.result import Result

__all__ = [
    "PRECISIONS",
    "InferenceBackend",
    "Predictor",
    "Result",
    "TorchBackend",
    "inference_graph",
    "load_backend",
]
