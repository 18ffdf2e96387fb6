"""The all-task network (``yolov9-x-all``, ``gelan-x-all``): counts and GFLOPs pinned for every
size, one forward giving every output, the conversion keeping each of them bit-identical,
and the checkpoint keeping what rebuilds it (head, stuff channels, caption sizes,
vocabulary)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from yolov9.checkpoints import load_weights, save_checkpoint
from yolov9.models import CaptionSpec, build_model, list_models
from yolov9.models.caption import BOS, EOS, PAD
from yolov9.models.caption_search import Decoding, decode
from yolov9.utils.flops import count_gflops

# name: (params, params fused, the caption head's, GFLOPs at 640 fused: one forward, the
# caption encoder included, decoding not), 80 things + 93 stuff, a vocabulary of 1000 ids
EXPECTED = {
    "yolov9-t-all": (5_915_794, 5_868_882, 1_756_648, 24.74),
    "gelan-t-all": (4_420_021, 4_383_109, 1_756_648, 14.94),
    "yolov9-s-all": (12_889_122, 12_732_514, 1_863_144, 65.09),
    "gelan-s-all": (9_700_085, 9_574_133, 1_863_144, 40.40),
    "yolov9-m-all": (39_169_770, 38_924_234, 2_049_512, 216.90),
    "gelan-m-all": (24_294_425, 24_131_845, 2_049_512, 120.41),
    "yolov9-c-all": (60_871_874, 60_531_010, 2_108_904, 382.47),
    "gelan-c-all": (30_092_405, 29_862_997, 2_108_904, 152.33),
    "yolov9-e-all": (76_608_066, 75_709_186, 2_108_904, 338.92),
    "gelan-e-all": (62_708_085, 61_920_149, 2_108_904, 239.13),
}
SPEC = CaptionSpec(vocab_size=1000)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_all_task_name_is_listed() -> None:
    assert sorted(list_models("all")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_are_pinned(name: str) -> None:
    with torch.device("meta"):
        model = build_model(name, caption=SPEC)
    assert model.caption is not None
    params, fused, caption, gflops = EXPECTED[name]
    assert (_params(model), _params(model.caption)) == (params, caption)
    assert _params(copy.deepcopy(model).eval().fuse()) == fused
    assert count_gflops(model, 640) == pytest.approx(gflops, abs=0.01)
    assert model.name == name
    assert model.task == "all"


def test_the_all_task_graph_is_the_panoptic_graph_plus_the_caption_head() -> None:
    """yolov9-x-all = yolov9-x-pan + a caption head on the main path (the auxiliary head is
    panoptic, without a caption head); gelan-x-all is what yolov9-x-all converts to."""
    every = build_model("yolov9-t-all", 3, stuff_classes=4, caption=SPEC)
    pan = build_model("yolov9-t-pan", 3, stuff_classes=4)
    assert every.caption is not None
    assert _params(every) == _params(pan) + _params(every.caption)
    gelan = build_model("gelan-t-all", 3, stuff_classes=4, caption=SPEC)
    converted = copy.deepcopy(every).drop_aux()
    assert converted.name == "gelan-t-all"
    assert sorted(converted.state_dict()) == sorted(gelan.state_dict())


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("yolov9-t-all", 3, stuff_classes=4, caption=CaptionSpec(vocab_size=40))
    assert model.caption is not None
    model.caption.set_vocabulary(b"vocabulary bytes")
    return model.eval()


def test_one_forward_gives_every_output_and_the_conversion_keeps_each_bit_identical() -> None:
    model = _model()
    images = torch.rand(2, 3, 64, 64)
    tokens = torch.tensor([[BOS, 5, 9, EOS], [BOS, 6, EOS, PAD]])
    with torch.no_grad():
        before = model(images, tokens).main
        converted = copy.deepcopy(model).drop_aux()
        after = converted(images, tokens).main
    outputs = ("pred_logits", "pred_dist", "coeffs", "protos", "semantic")
    for field in (*outputs, "memory", "caption_logits"):
        a, b = getattr(before, field), getattr(after, field)
        assert a is not None, field
        assert torch.equal(a, b), field
    assert before.semantic.shape == (2, 3 + 4, 16, 16)
    how = Decoding(beam=3, max_len=5)
    assert decode(model.caption, before.memory, how) == decode(converted.caption, after.memory, how)


def test_the_checkpoint_rebuilds_every_head(tmp_path: Path) -> None:
    model = _model()
    for name in ("m.pt", "m.safetensors"):
        loaded = load_weights(save_checkpoint(tmp_path / name, model, ["a", "b", "c"])).model
        assert loaded.name == "yolov9-t-all"
        assert loaded.task == "all"
        assert loaded.head_kind == model.head_kind
        assert loaded.caption is not None
        assert loaded.caption.vocabulary() == b"vocabulary bytes"
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key
