"""The caption head and its decoding: counts pinned for every size, the cached decoder step
equal to teacher forcing, beam search at least as likely as greedy, the vocabulary kept in
the weights, and the conversion (auxiliary branch dropped) keeping captions bit-identical."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from yolov9.checkpoints import load_weights, save_checkpoint
from yolov9.errors import ConfigError
from yolov9.models import CaptionSpec, build_model, list_models
from yolov9.models.caption import BOS, EOS, PAD
from yolov9.models.caption_search import Decoding, decode

# name: (all parameters, the caption head's), 80 classes and a vocabulary of 1000 ids
EXPECTED = {
    "yolov9-t-cap": (5_474_328, 1_756_648),
    "gelan-t-cap": (4_199_288, 1_756_648),
    "yolov9-s-cap": (11_667_656, 1_863_144),
    "gelan-s-cap": (9_089_352, 1_863_144),
    "yolov9-m-cap": (34_927_944, 2_049_512),
    "gelan-m-cap": (22_173_512, 2_049_512),
    "yolov9-c-cap": (53_290_984, 2_108_904),
    "gelan-c-cap": (27_607_656, 2_108_904),
    "yolov9-e-cap": (71_638_568, 2_108_904),
    "gelan-e-cap": (60_223_336, 2_108_904),
}
SPEC = CaptionSpec(vocab_size=1000)


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_every_caption_name_is_listed() -> None:
    assert sorted(list_models("caption")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", ["yolov9-t-cap", "gelan-t-cap", "gelan-s-cap"])
def test_parameter_counts(name: str) -> None:
    model = build_model(name, 80, caption=SPEC)
    assert model.caption is not None
    assert (_params(model), _params(model.caption)) == EXPECTED[name]
    assert model.name == name
    assert model.task == "caption"


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in EXPECTED if "-t-" not in n])
def test_parameter_counts_large(name: str) -> None:
    model = build_model(name, 80, caption=SPEC)
    assert model.caption is not None
    assert (_params(model), _params(model.caption)) == EXPECTED[name]


def test_head_sizes_are_the_references() -> None:
    """256 wide, 8 heads, FFN 512, one encoder and one decoder layer, 20 tokens, 300 regions."""
    spec = CaptionSpec()
    assert (spec.d_model, spec.heads, spec.ffn) == (256, 8, 512)
    assert (spec.encoder_layers, spec.decoder_layers, spec.max_len, spec.regions) == (1, 1, 20, 300)


def test_a_caption_model_needs_a_vocabulary() -> None:
    default = build_model("gelan-t-cap", 3)  # the most ids training learns by default
    assert default.caption is not None
    assert default.caption.spec.vocab_size == 1000
    assert default.caption.vocabulary() == b""  # cannot caption until trained
    with pytest.raises(ConfigError, match="at least 4 ids"):
        build_model("gelan-t-cap", 3, caption=CaptionSpec(vocab_size=2))
    with pytest.raises(ConfigError, match="multiple of heads"):
        CaptionSpec(vocab_size=10, d_model=100, heads=8)


def _model(name: str = "gelan-t-cap", vocab: int = 40) -> torch.nn.Module:
    torch.manual_seed(0)
    spec = CaptionSpec(vocab_size=vocab, regions=20, dropout=0.0)
    return build_model(name, 3, caption=spec, vocabulary=b"vocabulary bytes").eval()


def test_cached_steps_equal_teacher_forcing() -> None:
    """One cached decoder step per token gives the same log-probabilities as the whole
    sequence at once under the causal mask."""
    model = _model()
    images = torch.rand(2, 3, 64, 96)
    tokens = torch.tensor([[BOS, 5, 9, 7, 11, EOS], [BOS, 6, 6, 8, EOS, PAD]])
    with torch.no_grad():
        out = model(images, tokens)
        forced = out.main.caption_logits.log_softmax(-1)
        head, cache = model.caption, model.caption.start(out.main.memory)
        for t in range(tokens.shape[1] - 1):
            logp, cache = head.step(tokens[:, t], cache)
            torch.testing.assert_close(logp, forced[:, t], atol=1e-5, rtol=1e-5)


def test_memory_is_grid_cells_and_regions() -> None:
    model = _model()
    out = model(torch.rand(1, 3, 64, 96))
    # P5 of 64x96 is 2x3 cells; 20 of the 8x12 + 4x6 + 2x3 anchors
    assert out.main.memory.shape == (1, 6 + 20, 256)
    assert out.main.caption_logits is None


def test_beam_search_is_batched_and_at_least_as_likely_as_greedy() -> None:
    model = _model(vocab=12)
    with torch.no_grad():
        memory = model(torch.rand(3, 3, 64, 64)).main.memory
    greedy = decode(model.caption, memory, Decoding(beam=1, max_len=6))
    beam = decode(model.caption, memory, Decoding(beam=4, max_len=6, length_penalty=0.0))
    single = decode(model.caption, memory[1:2], Decoding(beam=4, max_len=6, length_penalty=0.0))
    assert beam.tokens[1] == single.tokens[0]
    for g, b in zip(greedy.tokens, beam.tokens, strict=True):
        assert len(g) <= 6
        assert len(b) <= 6
        assert PAD not in g + b
        assert BOS not in g + b
        assert EOS not in g + b

    def logprob(row: torch.Tensor, ids: list[int]) -> float:
        head, cache = model.caption, model.caption.start(row)
        total, fed = 0.0, BOS
        for token in [*ids, EOS][: 6 + 1]:
            logp, cache = head.step(torch.tensor([fed]), cache)
            total += float(logp[0, token])
            fed = token
        return total

    for i in range(3):
        g, b = greedy.tokens[i], beam.tokens[i]
        if len(g) < 6 and len(b) < 6:  # both finished: beam's sum is at least greedy's
            assert logprob(memory[i : i + 1], b) >= logprob(memory[i : i + 1], g) - 1e-4
    for score in greedy.scores + beam.scores:
        assert 0.0 < score <= 1.0


def test_the_vocabulary_travels_with_the_weights(tmp_path: Path) -> None:
    model = _model("yolov9-t-cap")
    for name in ("m.pt", "m.safetensors"):
        path = save_checkpoint(tmp_path / name, model, ["a", "b", "c"])
        loaded = load_weights(path).model
        assert loaded.caption is not None
        assert loaded.caption.vocabulary() == b"vocabulary bytes"
        assert loaded.caption.spec == model.caption.spec


def test_dropping_the_auxiliary_branch_keeps_captions_bit_identical() -> None:
    model = _model("yolov9-t-cap")
    images = torch.rand(2, 3, 64, 64)
    tokens = torch.tensor([[BOS, 5, 9, EOS], [BOS, 6, EOS, PAD]])
    with torch.no_grad():
        before = model(images, tokens).main
        converted = copy.deepcopy(model).drop_aux()
        after = converted(images, tokens).main
    assert converted.name == "gelan-t-cap"
    assert torch.equal(before.memory, after.memory)
    assert torch.equal(before.caption_logits, after.caption_logits)
    how = Decoding(beam=3, max_len=5)
    assert decode(model.caption, before.memory, how) == decode(converted.caption, after.memory, how)


def test_the_region_choice_sends_no_gradient_to_the_class_branch() -> None:
    """Region tokens are picked by the class scores, detached: the caption loss reaches the
    backbone and neck but not the detection head."""
    model = _model().train()
    tokens = torch.tensor([[BOS, 5, 9, EOS]])
    out = model(torch.rand(1, 3, 64, 64), tokens)
    out.main.caption_logits.sum().backward()
    assert all(p.grad is None for p in model.head.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.neck.parameters())
