"""CoreML export: an ML program (``.mlpackage``) converted by coremltools from ``torch.export``.

The package takes ``images`` (1, 3, imgsz, imgsz) in [0, 1] and returns the outputs of every
other export by name (``boxes``, ``scores`` and, for segmentation models, ``coefficients`` and
``prototypes``); the yolov9 metadata is in the model's user-defined metadata under ``yolov9``.
``--half`` computes in fp16 (the Neural Engine's precision), otherwise fp32.

With ``--nms`` the package is a pipeline, as CoreML object detectors are: an RGB image input
(Vision feeds images, scaled by 1/255 inside), the network, then
CoreML's NonMaximumSuppression model, which returns ``confidence`` (N, classes) and
``coordinates`` (N, 4: centre x, centre y, width, height, normalised to the input), the
outputs Apple's Vision framework reads. Segmentation models cannot go through that NMS (it
drops the mask coefficients): export them without ``--nms``.

Conversion runs on Linux; running the package needs macOS (the backend says so elsewhere).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from yolov9.deploy.graph import ExportGraph, ExportOptions
from yolov9.models import YOLOv9
from yolov9.tasks.registry import get_task

log = logging.getLogger(__name__)


class _VisionGraph(nn.Module):
    """The graph feeding CoreML's NMS: scores (A, C) and xywh boxes (A, 4) normalised to the
    input, for batch 1."""

    def __init__(self, graph: nn.Module, imgsz: int) -> None:
        super().__init__()
        self.net, self.imgsz = graph, float(imgsz)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        boxes, scores = self.net(images)[:2]
        xy = (boxes[0, :, :2] + boxes[0, :, 2:]) / (2 * self.imgsz)
        wh = (boxes[0, :, 2:] - boxes[0, :, :2]) / self.imgsz
        return scores[0], torch.cat([xy, wh], -1)


def _import_coremltools() -> Any:
    # its import warns, on Linux, that the runtime parts are absent, and that torch is newer
    # than it was tested with: neither matters for a conversion checked as below
    logging.getLogger("coremltools").setLevel(logging.ERROR)
    import coremltools

    return coremltools


def _convert(
    module: nn.Module, imgsz: int, outputs: list[str], half: bool, image: bool = False
) -> Any:
    """``image``: the input is an RGB image (scaled by 1/255 inside), as Vision requires;
    otherwise a (1, 3, S, S) array in [0, 1], as the other exports take."""
    ct = _import_coremltools()

    example = torch.rand(1, 3, imgsz, imgsz)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(module.eval(), (example,)).run_decompositions({})
    quiet = io.StringIO()
    # coremltools logs each op it converts and warns that torch is newer than it was tested on
    with warnings.catch_warnings(), contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        inputs = None
        if image:
            inputs = [
                ct.ImageType(
                    name="images",
                    shape=(1, 3, imgsz, imgsz),
                    scale=1 / 255,
                    color_layout=ct.colorlayout.RGB,
                )
            ]
        return ct.convert(
            program,
            inputs=inputs,
            outputs=[ct.TensorType(name=n) for n in outputs],
            convert_to="mlprogram",
            minimum_deployment_target=ct.target.iOS16,
            compute_precision=ct.precision.FLOAT16 if half else ct.precision.FLOAT32,
        )


def _nms_pipeline(network: Any, opts: Any, names: list[str]) -> Any:
    """``network`` (scores, normalised xywh) followed by CoreML's NonMaximumSuppression."""
    ct = _import_coremltools()
    from coremltools.proto import FeatureTypes_pb2

    spec = network.get_spec()
    nms = ct.proto.Model_pb2.Model()
    nms.specificationVersion = 5
    for i in range(2):
        feature = spec.description.output[i].SerializeToString()
        nms.description.input.add().ParseFromString(feature)
        nms.description.output.add().ParseFromString(feature)
    nms.description.output[0].name, nms.description.output[1].name = "confidence", "coordinates"
    for out in nms.description.output:
        del out.type.multiArrayType.shape[:]
        ranges = out.type.multiArrayType.shapeRange.sizeRanges
        ranges.add().lowerBound = 0
        ranges[0].upperBound = -1
        ranges.add().lowerBound = len(names) if out.name == "confidence" else 4
        ranges[1].upperBound = ranges[1].lowerBound
        out.type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.DOUBLE
    for inp in nms.description.input:
        inp.type.multiArrayType.dataType = FeatureTypes_pb2.ArrayFeatureType.FLOAT32
    params = nms.nonMaximumSuppression
    params.confidenceInputFeatureName, params.coordinatesInputFeatureName = "scores", "xywh"
    params.confidenceOutputFeatureName = "confidence"
    params.coordinatesOutputFeatureName = "coordinates"
    params.iouThreshold, params.confidenceThreshold = opts.iou, opts.conf
    params.pickTop.perClass = True  # class-aware, as yolov9's NMS (multi-label: refused)
    params.stringClassLabels.vector.extend(names)
    nms_model = ct.models.MLModel(nms)
    # the input is declared as an array here and replaced below by the network's image input
    pipeline = ct.models.pipeline.Pipeline(
        input_features=[("images", ct.models.datatypes.Array(1, 3, opts.imgsz, opts.imgsz))],
        output_features=["confidence", "coordinates"],
    )
    pipeline.add_model(network)
    pipeline.add_model(nms_model)
    pipeline.spec.specificationVersion = 7  # ML programs inside a pipeline need iOS 16
    for i, source in enumerate(network.get_spec().description.input):
        pipeline.spec.description.input[i].ParseFromString(source.SerializeToString())
    for i, source in enumerate(nms_model.get_spec().description.output):
        pipeline.spec.description.output[i].ParseFromString(source.SerializeToString())
    return ct.models.MLModel(pipeline.spec, weights_dir=network.weights_dir)


def export_coreml(model: YOLOv9, path: Path, opts: ExportOptions, meta: dict[str, Any]) -> Path:
    """Write ``path`` (``.mlpackage``)."""
    graph = ExportGraph(model)
    if opts.nms:
        get_task(model.task).refuse_vision_nms()
        network = _convert(
            _VisionGraph(graph, opts.imgsz), opts.imgsz, ["scores", "xywh"], opts.half, image=True
        )
        mlmodel = _nms_pipeline(network, opts, list(meta["names"]))
    else:
        mlmodel = _convert(graph, opts.imgsz, list(graph.output_names), opts.half)
    mlmodel.user_defined_metadata["yolov9"] = json.dumps(meta)
    mlmodel.short_description = f"{meta['model']} ({meta['task']}), yolov9 {meta['yolov9_version']}"
    path.parent.mkdir(parents=True, exist_ok=True)
    mlmodel.save(str(path))
    return path
