"""An exported caption decoder, stepped by our search (:func:`yolov9.models.caption_search.
decode`): a graph ``(memory (B, S, d), tokens (B, T)) -> log-probabilities (B, V)`` of the
token after each prefix, run by ONNX Runtime or OpenVINO. The graph has no cache: every step
recomputes the prefix (at most 21 tokens through one decoder layer), so beam search, greedy
decoding and their results are those of the PyTorch head, token for token (within the
runtime's float rounding)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolov9.errors import CheckpointError
from yolov9.models import CaptionSpec
from yolov9.tasks.caption import CaptionTokenizer

Run = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (memory, tokens) -> log-probabilities


@dataclass(frozen=True)
class PrefixCache:
    """The memory and the tokens fed so far, per sequence."""

    memory: torch.Tensor
    tokens: torch.Tensor  # (N, T) int64

    def select(self, rows: torch.Tensor) -> PrefixCache:
        return PrefixCache(self.memory[rows], self.tokens[rows])


class GraphDecoder:
    """A caption decoder graph behind the search's step interface (module docstring)."""

    def __init__(self, run: Run, spec: CaptionSpec) -> None:
        self.run, self._spec = run, spec

    @property
    def spec(self) -> CaptionSpec:
        return self._spec

    def start(self, memory: torch.Tensor) -> PrefixCache:
        return PrefixCache(memory, torch.zeros(memory.shape[0], 0, dtype=torch.long))

    def step(self, tokens: torch.Tensor, cache: PrefixCache) -> tuple[torch.Tensor, PrefixCache]:
        prefix = torch.cat([cache.tokens, tokens[:, None].cpu()], 1)
        logp = self.run(
            np.ascontiguousarray(cache.memory.cpu().numpy(), np.float32),
            np.ascontiguousarray(prefix.numpy(), np.int64),
        )
        return torch.from_numpy(np.array(logp, np.float32)), PrefixCache(cache.memory, prefix)


def caption_metadata(spec: CaptionSpec, vocabulary: bytes, decoder: str) -> dict[str, Any]:
    """What an export's metadata says of its caption decoder (``decoder``: its file name,
    beside the exported model)."""
    from dataclasses import asdict

    return {
        "decoder": decoder,
        "spec": asdict(spec),
        "vocabulary": base64.b64encode(vocabulary).decode("ascii"),
    }


def read_caption_metadata(
    meta: dict[str, Any], path: Path
) -> tuple[Path, CaptionSpec, CaptionTokenizer]:
    """The decoder file, the head's sizes and the vocabulary an export's metadata names.

    Raises:
        CheckpointError: the metadata is incomplete or the decoder file is missing.
    """
    try:
        decoder = path.parent / str(meta["decoder"])
        spec = CaptionSpec(**meta["spec"])
        vocabulary = base64.b64decode(meta["vocabulary"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(
            f"{path}: its caption metadata is incomplete ({e}); export it again"
        ) from None
    if not decoder.is_file():
        raise CheckpointError(
            f"{path}: its caption decoder {decoder.name} is not beside it (an export of a "
            "caption model is two files: keep them together)"
        )
    return decoder, spec, CaptionTokenizer(vocabulary)
