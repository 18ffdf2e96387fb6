"""The caption head: a small transformer encoder-decoder over the detector's features (the
design of the authors' later GRIT-style caption head, written from its description).

Visual tokens (the memory the decoder attends to):

* grid tokens: every cell of the coarsest neck level (P5), projected to ``d_model``;
* region tokens: the ``regions`` anchors with the highest class score of the detection head
  (scores detached: the selection is an index, not a path for gradients), each anchor's
  neck features projected to ``d_model`` by its level's 1x1 convolution.

Every token adds an embedding of where it is (centre and size, normalised by the image) and of
its kind (grid or region); the encoder (``encoder_layers`` pre-norm layers) mixes them. The
decoder (``decoder_layers`` pre-norm layers: causal self-attention, cross-attention to the
memory, FFN) predicts the next token; its output layer shares the token embedding's weights.
A decoder step keeps its keys and values (:class:`DecoderCache`), so a token costs one step.

The vocabulary (a sentencepiece model, :mod:`yolov9.tasks.caption.tokenizer`) is kept as bytes
in the ``vocab`` buffer, so a checkpoint's weights alone caption.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from yolov9.models.variants import CaptionSpec

PAD, BOS, EOS = 0, 2, 3  # the tokenizer's ids


class Attention(nn.Module):
    """Multi-head attention with separate query and key/value inputs (scaled dot product)."""

    def __init__(self, d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.out = nn.Linear(d, d)

    def keys_values(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(N, S, d) -> keys and values, each (N, heads, S, d / heads)."""
        k, v = self.kv(x).unflatten(-1, (2, self.heads, -1)).permute(2, 0, 3, 1, 4)
        return k, v

    def attend(self, x: Tensor, k: Tensor, v: Tensor, *, causal: bool = False) -> Tensor:
        q = self.q(x).unflatten(-1, (self.heads, -1)).transpose(1, 2)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=causal)
        return self.out(y.transpose(1, 2).flatten(2))

    def forward(self, x: Tensor, context: Tensor, *, causal: bool = False) -> Tensor:
        return self.attend(x, *self.keys_values(context), causal=causal)


def _ffn(d: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d))


class EncoderLayer(nn.Module):
    """Pre-norm self-attention and FFN over the visual tokens."""

    def __init__(self, spec: CaptionSpec) -> None:
        super().__init__()
        d = spec.d_model
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = Attention(d, spec.heads, spec.attention_dropout)
        self.ffn = _ffn(d, spec.ffn, spec.dropout)
        self.drop = nn.Dropout(spec.dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        x = x + self.drop(self.attn(h, h))
        return x + self.drop(self.ffn(self.norm2(x)))


@dataclass
class DecoderCache:
    """What a decoder step keeps: per layer, the self-attention keys and values of the tokens
    so far and the cross-attention keys and values of the memory (computed once)."""

    self_kv: list[tuple[Tensor, Tensor] | None]
    cross_kv: list[tuple[Tensor, Tensor]]
    position: int = 0

    def select(self, rows: Tensor) -> DecoderCache:
        """The cache of the sequences ``rows`` (beam search's reordering)."""

        def pick(kv: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor] | None:
            return None if kv is None else (kv[0][rows], kv[1][rows])

        return DecoderCache(
            [pick(kv) for kv in self.self_kv],
            [(k[rows], v[rows]) for k, v in self.cross_kv],
            self.position,
        )


class DecoderLayer(nn.Module):
    """Pre-norm causal self-attention, cross-attention to the memory, FFN."""

    def __init__(self, spec: CaptionSpec) -> None:
        super().__init__()
        d = spec.d_model
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_attn = Attention(d, spec.heads, spec.attention_dropout)
        self.cross_attn = Attention(d, spec.heads, spec.attention_dropout)
        self.ffn = _ffn(d, spec.ffn, spec.dropout)
        self.drop = nn.Dropout(spec.dropout)

    def forward(self, x: Tensor, memory: Tensor) -> Tensor:
        """Teacher forcing: every position at once, each seeing only the ones before it."""
        h = self.norm1(x)
        x = x + self.drop(self.self_attn(h, h, causal=True))
        x = x + self.drop(self.cross_attn(self.norm2(x), memory))
        return x + self.drop(self.ffn(self.norm3(x)))

    def step(
        self, x: Tensor, past: tuple[Tensor, Tensor] | None, cross: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One new position (N, 1, d) given the keys and values before it."""
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        x = x + self.self_attn.attend(h, k, v)
        x = x + self.cross_attn.attend(self.norm2(x), *cross)
        return x + self.ffn(self.norm3(x)), (k, v)


class CaptionHead(nn.Module):
    """Captions from the neck's levels and the detection head's class logits (module
    docstring). ``forward`` gives the encoded memory and, given captions (teacher forcing),
    the next-token logits; :meth:`start` and :meth:`step` decode one token at a time."""

    vocab: Tensor  # the sentencepiece model's bytes (uint8), saved with the weights

    def __init__(self, spec: CaptionSpec, in_channels: Sequence[int]) -> None:
        super().__init__()
        if spec.vocab_size < 4:
            raise ValueError("a caption head needs a vocabulary (vocab_size >= 4)")
        self.spec = spec
        d = spec.d_model
        self.grid = nn.Linear(in_channels[-1], d)
        self.region = nn.ModuleList(nn.Conv2d(c, d, 1) for c in in_channels)
        self.where = nn.Sequential(nn.Linear(4, d), nn.GELU(), nn.Linear(d, d))
        self.kind = nn.Embedding(2, d)  # 0: grid token, 1: region token
        self.encoder = nn.ModuleList(EncoderLayer(spec) for _ in range(spec.encoder_layers))
        self.memory_norm = nn.LayerNorm(d)
        self.embed = nn.Embedding(spec.vocab_size, d, padding_idx=PAD)
        self.position = nn.Embedding(spec.max_len + 2, d)
        self.decoder: list[DecoderLayer] = nn.ModuleList(  # type: ignore[assignment]
            DecoderLayer(spec) for _ in range(spec.decoder_layers)
        )
        self.out_norm = nn.LayerNorm(d)
        self.out_bias = nn.Parameter(torch.zeros(spec.vocab_size))
        self.register_buffer("vocab", torch.zeros(0, dtype=torch.uint8))
        # token embeddings at d^-0.5 (the tied output layer then starts with unit-scale
        # logits); positions and kinds small beside them (nn.Embedding's default, N(0, 1),
        # would drown the tokens)
        nn.init.normal_(self.embed.weight, std=d**-0.5)
        nn.init.normal_(self.position.weight, std=0.02)
        nn.init.normal_(self.kind.weight, std=0.02)
        with torch.no_grad():
            self.embed.weight[PAD].zero_()

    # --- the vocabulary ----------------------------------------------------------------
    def set_vocabulary(self, model_bytes: bytes) -> None:
        """Keep the tokenizer's bytes in the weights."""
        data = torch.frombuffer(bytearray(model_bytes), dtype=torch.uint8).clone()
        self.vocab = data.to(self.out_bias.device)

    def vocabulary(self) -> bytes:
        """The tokenizer's bytes (empty when none was set)."""
        return bytes(self.vocab.cpu().numpy().tobytes())

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        saved = state_dict.get(prefix + "vocab")
        if isinstance(saved, Tensor):  # the vocabulary's length is the file's
            self.vocab = torch.zeros_like(saved, dtype=torch.uint8, device=self.vocab.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # --- encoding ------------------------------------------------------------------------
    def encode(self, levels: Sequence[Tensor], pred_logits: Tensor) -> Tensor:
        """Visual tokens (B, cells of P5 + regions, d) after the encoder."""
        b = levels[0].shape[0]
        p5 = levels[-1]
        grid = self.grid(p5.flatten(2).transpose(1, 2))
        grid = grid + self.where(_cell_boxes(p5.shape[2], p5.shape[3], grid)) + self.kind.weight[0]
        region_all = torch.cat(
            [proj(x).flatten(2) for x, proj in zip(levels, self.region, strict=True)], 2
        ).transpose(1, 2)  # (B, A, d): every anchor, in the head's order
        where_all = torch.cat([_cell_boxes(x.shape[2], x.shape[3], grid) for x in levels], 1)
        where_all = where_all.expand(b, -1, -1)
        k = min(self.spec.regions, region_all.shape[1])
        top = pred_logits.detach().amax(-1).topk(k, dim=1).indices  # (B, k)
        region = region_all.gather(1, top[..., None].expand(-1, -1, region_all.shape[2]))
        where = where_all.gather(1, top[..., None].expand(-1, -1, 4))
        region = region + self.where(where) + self.kind.weight[1]
        x = torch.cat([grid, region], 1)
        for layer in self.encoder:
            x = layer(x)
        return self.memory_norm(x)

    # --- decoding --------------------------------------------------------------------------
    def _logits(self, x: Tensor) -> Tensor:
        return F.linear(self.out_norm(x), self.embed.weight, self.out_bias)

    def teacher_forced(self, memory: Tensor, tokens: Tensor) -> Tensor:
        """Next-token logits (B, T - 1, V) of ``tokens`` (B, T: BOS ... EOS, PAD after)."""
        inputs = tokens[:, :-1][:, : self.spec.max_len + 1]
        t = inputs.shape[1]
        x = self.embed(inputs) + self.position.weight[:t]
        x = F.dropout(x, self.spec.dropout, self.training)
        for layer in self.decoder:
            x = layer(x, memory)
        return self._logits(x)

    def next_logp(self, memory: Tensor, tokens: Tensor) -> Tensor:
        """Log-probabilities (B, V) of the token after each prefix ``tokens`` (B, T: BOS ...),
        the whole prefix recomputed: what an exported decoder graph computes (no cache)."""
        x = self.embed(tokens) + self.position.weight[: tokens.shape[1]]
        for layer in self.decoder:
            x = layer(x, memory)
        return self._logits(x[:, -1]).float().log_softmax(-1)

    def start(self, memory: Tensor) -> DecoderCache:
        """An empty cache over ``memory`` (the cross-attention keys and values, once), in the
        head's own precision (a bf16-autocast or fp16 forward may give another)."""
        memory = memory.to(self.out_bias.dtype)
        cross = [layer.cross_attn.keys_values(memory) for layer in self.decoder]
        return DecoderCache([None] * len(self.decoder), cross)

    def step(self, tokens: Tensor, cache: DecoderCache) -> tuple[Tensor, DecoderCache]:
        """Log-probabilities (N, V) of the token after ``tokens`` (N,), the last ones fed."""
        x = self.embed(tokens)[:, None] + self.position.weight[cache.position]
        kept: list[tuple[Tensor, Tensor] | None] = []
        for layer, past, cross in zip(self.decoder, cache.self_kv, cache.cross_kv, strict=True):
            x, kv = layer.step(x, past, cross)
            kept.append(kv)
        logp = self._logits(x[:, 0]).float().log_softmax(-1)
        return logp, DecoderCache(kept, cache.cross_kv, cache.position + 1)

    def forward(
        self, levels: Sequence[Tensor], pred_logits: Tensor, tokens: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """(memory, next-token logits or None without ``tokens``)."""
        memory = self.encode(levels, pred_logits)
        return memory, (self.teacher_forced(memory, tokens) if tokens is not None else None)


def _cell_boxes(h: int, w: int, like: Tensor) -> Tensor:
    """(1, h * w, 4) centre x, centre y, width, height of a level's cells, in image fractions."""
    ys = (torch.arange(h, device=like.device, dtype=torch.float32) + 0.5) / h
    xs = (torch.arange(w, device=like.device, dtype=torch.float32) + 0.5) / w
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    size = torch.tensor([1 / w, 1 / h], device=like.device).expand(h * w, 2)
    boxes = torch.cat([cx.reshape(-1, 1), cy.reshape(-1, 1), size], 1)
    return boxes[None].to(like.dtype)
