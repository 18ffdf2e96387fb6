"""Inference backends: one interface for a PyTorch model and for exported files.

``infer(images)`` maps a float batch (B, 3, H, W) in [0, 1] to :class:`Decoded` outputs:
``boxes`` (B, A, 4) xyxy, class ``scores`` (B, A, C) and, for segmentation models, mask
``coeffs`` (B, A, M) and ``protos`` (B, M, H/4, W/4); ``detect`` adds NMS (ours, or the one
inside an exported graph) and hands each detection its mask coefficients. Prediction,
evaluation, export checks and benchmarks only talk to this interface, so a checkpoint and its
exports go through the same pre- and post-processing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from yolov9.data.coco_panoptic import default_stuff_names
from yolov9.errors import CheckpointError
from yolov9.inference.graph import inference_graph
from yolov9.models import ModelOutput, YOLOv9
from yolov9.models.caption import CaptionHead
from yolov9.models.caption_search import Decoding, StepDecoder, decode
from yolov9.ops.nms import Detections, non_max_suppression
from yolov9.tasks.caption import CaptionTokenizer
from yolov9.tasks.registry import get_task
from yolov9.utils.device import select_device

log = logging.getLogger(__name__)


class Decoded(NamedTuple):
    """Decoded outputs of the main head for a batch (coefficients and protos: segmentation;
    semantic logits (B, K, H/4, W/4): panoptic)."""

    boxes: torch.Tensor
    scores: torch.Tensor
    coeffs: torch.Tensor | None = None
    protos: torch.Tensor | None = None
    semantic: torch.Tensor | None = None
    captions: list[tuple[str, float]] | None = None  # caption models: (text, score) per image


# an export's output names -> the Decoded fields they fill (the caption memory is decoded)
OUTPUT_FIELDS = {
    "boxes": "boxes",
    "scores": "scores",
    "coefficients": "coeffs",
    "prototypes": "protos",
    "semantic": "semantic",
}


def decoded_from(named: dict[str, torch.Tensor]) -> Decoded:
    """The :class:`Decoded` of an export's outputs by name (those of ``OUTPUT_FIELDS``)."""
    return Decoded(**{f: named[n] for n, f in OUTPUT_FIELDS.items() if n in named})


def nms_with_masks(decoded: Decoded, **nms: Any) -> list[Detections]:
    """NMS of a batch; each image's detections carry their mask coefficients and the image's
    prototypes (and semantic logits) when the model has them."""
    dets = non_max_suppression(decoded.boxes, decoded.scores, **nms)
    if decoded.coeffs is not None and decoded.protos is not None:
        semantic = decoded.semantic if decoded.semantic is not None else [None] * len(dets)
        dets = [
            Detections(d.boxes, d.scores, d.labels, d.anchors, c[d.anchors], p, s)
            for d, c, p, s in zip(dets, decoded.coeffs, decoded.protos, semantic, strict=True)
        ]
    if decoded.captions is not None:  # caption and all-task models
        dets = [
            Detections(
                d.boxes, d.scores, d.labels, d.anchors, d.coeffs, d.protos, d.semantic, text, score
            )
            for d, (text, score) in zip(dets, decoded.captions, strict=True)
        ]
    return dets


def caption_tokenizer(head: CaptionHead, source: str) -> CaptionTokenizer:
    """The vocabulary kept in a caption head's weights.

    Raises:
        CheckpointError: the weights keep none (one line, naming ``source``).
    """
    vocab = head.vocabulary()
    if not vocab:
        raise CheckpointError(
            f"{source}: a caption model without its vocabulary (the 'caption.vocab' weights); "
            "train it with yolov9 train, which keeps the vocabulary in the checkpoint"
        )
    return CaptionTokenizer(vocab)


class InferenceBackend:
    """Base: subclasses implement :meth:`infer` (and ``_raw_detect`` when NMS is built in)."""

    names: list[str]
    stuff_names: tuple[str, ...] = ()  # a panoptic model's stuff classes (after the things)
    imgsz: int = 640
    fixed_shape: tuple[int, int] | None = None  # (h, w) the graph accepts, if not dynamic
    fixed_batch: int | None = None
    has_nms: bool = False
    nms_settings: dict[str, Any]  # thresholds baked into an export with NMS
    device = torch.device("cpu")
    kind = "?"
    task = "detect"

    def infer(self, images: torch.Tensor) -> Decoded:
        raise NotImplementedError

    # caption and all-task models: what steps the search (the PyTorch head, or an exported
    # decoder graph), the vocabulary, and how to decode (beam 5, 20 tokens by default)
    caption_decoder: StepDecoder | None = None
    tokenizer: CaptionTokenizer | None = None
    decoding: Decoding = Decoding()

    def captions(self, memory: torch.Tensor) -> list[tuple[str, float]]:
        """The caption and score of each image of the caption head's ``memory``."""
        decoder, tokenizer = self.caption_decoder, self.tokenizer
        assert decoder is not None
        assert tokenizer is not None
        found = decode(decoder, memory, self.decoding)
        return [
            (tokenizer.decode(ids), score)
            for ids, score in zip(found.tokens, found.scores, strict=True)
        ]

    def detect(
        self,
        images: torch.Tensor,
        *,
        conf: float = 0.25,
        iou: float = 0.45,
        max_det: int = 300,
        multi_label: bool = False,
        agnostic: bool = False,
        classes: list[int] | None = None,
    ) -> list[Detections]:
        if self.has_nms:
            return self._nms_outputs(images, conf, classes)
        return nms_with_masks(
            self.infer(images),
            conf_threshold=conf,
            iou_threshold=iou,
            max_det=max_det,
            multi_label=multi_label,
            agnostic=agnostic,
            classes=classes,
        )

    def _raw_detect(self, images: torch.Tensor) -> list[np.ndarray]:
        """An export with NMS inside: its outputs ``num_dets``, ``det_boxes``, ``det_scores``,
        ``det_classes`` and, for segmentation models, ``det_coefficients`` and ``prototypes``
        (:mod:`yolov9.deploy.onnx_nms`)."""
        raise NotImplementedError

    def _nms_outputs(
        self, images: torch.Tensor, conf: float, classes: list[int] | None
    ) -> list[Detections]:
        baked = self.nms_settings.get("conf", 0.0)
        if conf < baked:
            log.warning(
                "this export has NMS with conf %.3g built in; lower thresholds (%.3g) cannot apply",
                baked,
                conf,
            )
        # num_dets, det_boxes, det_scores, det_classes [, det_coefficients, prototypes
        # [, semantic]] [, caption_memory]
        raw = self._raw_detect(images)
        captions: list[tuple[str, float]] | list[tuple[None, None]] = [(None, None)] * len(raw[0])
        if get_task(self.task).gives("caption"):
            captions = self.captions(torch.from_numpy(raw.pop()).float())
        num, boxes, scores, labels, *seg = raw
        out = []
        for i, (n, b, s, c) in enumerate(zip(num[:, 0], boxes, scores, labels, strict=True)):
            keep = (s[:n] > conf) & (np.isin(c[:n], classes) if classes is not None else True)
            coeffs = protos = semantic = None
            if seg:  # segmentation: the kept detections' coefficients, the image's prototypes
                coeffs = torch.from_numpy(seg[0][i][:n][keep]).float()
                protos = torch.from_numpy(seg[1][i]).float()
            if len(seg) > 2:  # panoptic: the image's semantic logits
                semantic = torch.from_numpy(seg[2][i]).float()
            out.append(
                Detections(
                    torch.from_numpy(b[:n][keep]).float(),
                    torch.from_numpy(s[:n][keep]).float(),
                    torch.from_numpy(c[:n][keep]).long(),
                    None,
                    coeffs,
                    protos,
                    semantic,
                    *captions[i],
                )
            )
        return out

    def describe(self) -> str:
        shape = (
            "dynamic"
            if self.fixed_shape is None
            else f"{self.fixed_shape[0]}x{self.fixed_shape[1]}"
        )
        return f"{self.kind} ({shape} input{', NMS inside' if self.has_nms else ''})"


class TorchBackend(InferenceBackend):
    """A YOLOv9 run by PyTorch.

    By default the model is copied into its inference graph (auxiliary branch dropped, fused,
    channels-last). With ``prepare=False`` it runs as given: training validates the EMA model
    this way, auxiliary head included, to compute both heads' losses from :meth:`forward`.
    """

    kind = "pytorch"

    def __init__(
        self,
        model: YOLOv9,
        names: list[str],
        *,
        imgsz: int = 640,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        prepare: bool = True,
        stuff_names: list[str] | None = None,
        decoding: Decoding | None = None,
    ) -> None:
        self.device = select_device(device)
        self.precision = precision
        self.source_name = model.name  # before the auxiliary branch is dropped
        self.source_path: Path | None = None  # the checkpoint, when read from one
        self.model = inference_graph(model, self.device, precision) if prepare else model
        self.names, self.imgsz = list(names), imgsz
        self.nms_settings = {}
        task = get_task(model.task)  # a task this version knows, or one line
        self.task = task.name
        if task.gives("semantic"):
            count = model.head_kind.stuff_classes
            self.stuff_names = tuple(default_stuff_names(count, stuff_names))
        self.decoding = decoding or Decoding()
        if self.model.caption is not None:
            self.caption_decoder = self.model.caption
            self.tokenizer = caption_tokenizer(self.model.caption, self.source_name)

    @torch.inference_mode()
    def forward(self, images: torch.Tensor) -> ModelOutput:
        """The raw output of both heads (as the model computes it, under bf16 autocast for
        ``precision="bf16"``)."""
        images = images.to(self.device)
        images = images.half() if self.precision == "fp16" else images
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
            return self.model(images)  # type: ignore[no-any-return]

    def decode(self, out: ModelOutput) -> Decoded:
        """Boxes and scores (and mask coefficients and protos) of the main head, in fp32."""
        main = out.main._replace(
            pred_dist=out.main.pred_dist.float(), pred_logits=out.main.pred_logits.float()
        )
        boxes, scores = self.model.head.decode(main)
        coeffs = main.coeffs.float() if main.coeffs is not None else None
        protos = main.protos.float() if main.protos is not None else None
        semantic = main.semantic.float() if main.semantic is not None else None
        captions = self.captions(main.memory) if main.memory is not None else None
        return Decoded(boxes.float(), scores.float(), coeffs, protos, semantic, captions)

    @torch.inference_mode()
    def infer(self, images: torch.Tensor) -> Decoded:
        return self.decode(self.forward(images))
