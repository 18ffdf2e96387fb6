"""Caption decoding: greedy and beam search over a :class:`CaptionHead`, batched, one cached
decoder step per token.

A caption's score is the geometric mean of its tokens' probabilities (EOS included), in (0, 1].
Beam search ranks finished captions by ``sum(log p) / length ** length_penalty`` (``length``
counts EOS): 1.0 (the default) ranks by the mean log-probability per token, so long captions
are not punished for having more tokens; 0 ranks by the plain sum, which favours short ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch
from torch import Tensor

from yolov9.models.caption import BOS, EOS, PAD
from yolov9.models.variants import CaptionSpec

C = TypeVar("C", bound="Cache")


class Cache(Protocol):
    def select(self: C, rows: Tensor) -> C:
        """The state of the sequences ``rows`` (beam search's reordering)."""
        ...


class StepDecoder(Protocol):
    """What the search steps: :class:`~yolov9.models.caption.CaptionHead` (cached keys and
    values), or an exported decoder graph run by its runtime (``yolov9.inference``)."""

    @property
    def spec(self) -> CaptionSpec: ...

    def start(self, memory: Tensor) -> Cache: ...

    def step(self, tokens: Tensor, cache: Cache) -> tuple[Tensor, Cache]: ...


@dataclass(frozen=True)
class Decoding:
    """How captions are decoded: ``beam`` 1 is greedy."""

    beam: int = 5
    max_len: int = 20  # tokens, EOS not counted
    length_penalty: float = 1.0

    def __post_init__(self) -> None:
        if self.beam < 1 or self.max_len < 1:
            raise ValueError("beam and max_len must be >= 1")


@dataclass(frozen=True)
class Captions:
    """Token ids per image (BOS dropped, EOS and what follows dropped) and scores."""

    tokens: list[list[int]]
    scores: list[float]


def _cut(row: list[int], max_len: int) -> list[int]:
    return (row[: row.index(EOS)] if EOS in row else row)[:max_len]


def _step(head: StepDecoder, tokens: Tensor, cache: Cache) -> tuple[Tensor, Cache]:
    """The head's step, never proposing padding or a second BOS."""
    logp, cache = head.step(tokens, cache)
    logp[:, PAD] = float("-inf")
    logp[:, BOS] = float("-inf")
    return logp, cache


@torch.inference_mode()
def decode(head: StepDecoder, memory: Tensor, how: Decoding = Decoding()) -> Captions:
    """The caption of each image of ``memory`` (B, S, d)."""
    max_len = min(how.max_len, head.spec.max_len)
    if how.beam == 1:
        return _greedy(head, memory, max_len)
    return _beam(head, memory, max_len, how.beam, how.length_penalty)


def _greedy(head: StepDecoder, memory: Tensor, max_len: int) -> Captions:
    b = memory.shape[0]
    cache = head.start(memory)
    token = torch.full((b,), BOS, dtype=torch.long, device=memory.device)
    done = torch.zeros(b, dtype=torch.bool, device=memory.device)
    total = torch.zeros(b, device=memory.device)
    length = torch.zeros(b, device=memory.device)
    out = []
    for _ in range(max_len + 1):
        logp, cache = _step(head, token, cache)
        best, token = logp.max(-1)
        token = token.masked_fill(done, PAD)
        total += best.masked_fill(done, 0.0)
        length += (~done).float()
        out.append(token)
        done |= token == EOS
        if bool(done.all()):
            break
    rows = torch.stack(out, 1).tolist()
    scores = (total / length.clamp(min=1)).exp().tolist()
    return Captions([_cut(r, max_len) for r in rows], scores)


def _beam(head: StepDecoder, memory: Tensor, max_len: int, k: int, alpha: float) -> Captions:
    b, device = memory.shape[0], memory.device
    rows = torch.arange(b, device=device).repeat_interleave(k)
    cache = head.start(memory).select(rows)
    vocab = head.spec.vocab_size
    tokens = torch.full((b * k, 1), BOS, dtype=torch.long, device=device)
    scores = torch.zeros(b, k, device=device)
    scores[:, 1:] = float("-inf")  # at the start every beam is the same: keep one
    done = torch.zeros(b * k, dtype=torch.bool, device=device)
    length = torch.zeros(b * k, device=device)
    for _ in range(max_len + 1):
        logp, cache = _step(head, tokens[:, -1], cache)
        # a finished beam only continues with padding, at no cost
        finished = torch.full_like(logp, float("-inf"))
        finished[:, PAD] = 0.0
        logp = torch.where(done[:, None], finished, logp)
        total = (scores.view(-1, 1) + logp).view(b, k * vocab)
        scores, flat = total.topk(k, dim=1)
        beam, token = flat // vocab, flat % vocab
        src = (beam + torch.arange(b, device=device)[:, None] * k).view(-1)
        cache = cache.select(src)
        tokens = torch.cat([tokens[src], token.view(-1, 1)], 1)
        done, length = done[src], length[src] + (~done[src]).float()
        done = done | (token.view(-1) == EOS)
        if bool(done.all()):
            break
    ranked = scores.view(-1) / length.clamp(min=1) ** alpha
    best = ranked.view(b, k).argmax(1) + torch.arange(b, device=device) * k
    mean = (scores.view(-1) / length.clamp(min=1)).exp()
    chosen = tokens[best, 1:].tolist()
    return Captions([_cut(r, max_len) for r in chosen], mean[best].tolist())
