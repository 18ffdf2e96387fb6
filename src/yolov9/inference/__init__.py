"""Inference, below both training and deployment: the inference graph of a model, the backends
that run a model or an exported file, the predictor (letterbox -> backend -> NMS -> original
pixels) and its results, with instance masks for segmentation models."""

from yolov9.inference.backends import Decoded, InferenceBackend, TorchBackend
from yolov9.inference.graph import PRECISIONS, inference_graph
from yolov9.inference.loader import load_backend
from yolov9.inference.predictor import Predictor
from yolov9.inference.result import Result
from yolov9.tasks.segment.masks import InstanceMasks

__all__ = [
    "PRECISIONS",
    "Decoded",
    "InferenceBackend",
    "InstanceMasks",
    "Predictor",
    "Result",
    "TorchBackend",
    "inference_graph",
    "load_backend",
]
