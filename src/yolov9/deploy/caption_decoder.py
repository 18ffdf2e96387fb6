"""The second graph of a caption model's export: its caption decoder, ``(memory, tokens) ->
log-probabilities of the next token`` (:meth:`~yolov9.models.caption.CaptionHead.next_logp`),
with dynamic batch, memory length and prefix length, written as ``<name>_caption.onnx``
beside the model (OpenVINO: ``<name>_caption.xml`` in its folder). The search that steps it
is ours (:mod:`yolov9.inference.caption_graph`); the graph itself holds no loop."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from yolov9.models.caption import BOS, CaptionHead


class CaptionDecoderGraph(nn.Module):
    def __init__(self, head: CaptionHead) -> None:
        super().__init__()
        self.head = head

    def forward(self, memory: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return self.head.next_logp(memory, tokens)


def decoder_path(model_path: Path) -> Path:
    """Where the decoder of the export at ``model_path`` goes (same folder and format)."""
    return model_path.with_name(f"{model_path.stem}_caption{model_path.suffix}")


def export_decoder_onnx(head: CaptionHead, path: Path, memory: torch.Tensor, opset: int) -> Path:
    """Write the decoder graph as ONNX (``memory``: an example of the model's memory)."""
    import onnx

    graph = CaptionDecoderGraph(head).eval()
    tokens = torch.full((memory.shape[0], 3), BOS, dtype=torch.long)
    batch = torch.export.Dim("batch", min=1, max=4096)
    length = torch.export.Dim("memory", min=1, max=100_000)
    prefix = torch.export.Dim("prefix", min=1, max=head.spec.max_len + 1)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            graph,
            (memory, tokens),
            None,
            input_names=["memory", "tokens"],
            output_names=["logp"],
            opset_version=opset,
            dynamo=True,
            dynamic_shapes={"memory": {0: batch, 1: length}, "tokens": {0: batch, 1: prefix}},
        )
    quiet.setLevel(level)
    proto = program.model_proto
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(path))
    return path


def export_decoder_openvino(onnx_path: Path, xml: Path) -> Path:
    """Convert the decoder's ONNX graph into ``xml`` (fp32: decoding is a small share)."""
    import openvino as ov

    ov.save_model(ov.convert_model(str(onnx_path)), str(xml), compress_to_fp16=False)
    return xml
