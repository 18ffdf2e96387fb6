"""Segmentation variants: pinned sizes, output layout, the PGI conversion, and the seams with
detection (same backbone, neck and auxiliary branch; only the head differs)."""

from __future__ import annotations

import pytest
import torch

from yolov9.errors import ConfigError
from yolov9.models import (
    AUTHORS_GRAPHS,
    HeadKind,
    YOLOv9,
    build_model,
    list_models,
    parse_model_name,
)
from yolov9.utils.flops import count_gflops

# name: (params, state-dict entries, GFLOPs at 640 (fused), params after drop_aux, and fused),
# 80 classes. The authors' graphs (gelan-c-seg, gelan-c-dseg, yolov9-c-seg) equal the spec's
# table 2.6; the converted yolov9-c-seg keeps its depth-2 prototype branch (27,824,672, not the
# 27,668,256 of the authors' gelan-c-dseg.yaml). The other sizes are ours.
EXPECTED = {
    "yolov9-t-seg": (4_134_768, 2144, 22.57, 2_651_184, 2_614_288),
    "yolov9-s-seg": (10_940_704, 2144, 61.80, 7_794_304, 7_668_384),
    "yolov9-m-seg": (36_839_712, 1784, 210.52, 22_104_640, 21_942_120),
    "yolov9-c-seg": (57_991_744, 1832, 369.62, 27_824_672, 27_595_328),
    "yolov9-e-seg": (74_181_504, 2544, 331.87, 60_440_352, 59_652_480),
    "gelan-t-seg": (2_725_040, 1399, 13.33, 2_725_040, 2_689_680),
    "gelan-t-dseg": (2_641_264, 1489, 12.90, 2_641_264, 2_605_008),
    "gelan-s-seg": (7_815_040, 1399, 37.43, 7_815_040, 7_694_240),
    "gelan-s-dseg": (7_755_008, 1489, 37.28, 7_755_008, 7_631_392),
    "gelan-m-seg": (21_948_640, 967, 113.48, 21_948_640, 21_802_440),
    "gelan-m-dseg": (21_967_120, 1057, 114.25, 21_967_120, 21_812_280),
    "gelan-c-seg": (27_634_720, 997, 144.56, 27_634_720, 27_423_808),
    "gelan-c-dseg": (27_668_256, 1087, 145.52, 27_668_256, 27_447_616),
    "gelan-e-seg": (60_250_400, 1871, 231.37, 60_250_400, 59_480_960),
    "gelan-e-dseg": (60_283_936, 1961, 232.32, 60_283_936, 59_504_768),
}
# The spec's table 2.6 (unfused, fused, GFLOPs) for the authors' segmentation graphs.
SPEC_TABLE = {
    "gelan-c-seg": (27_634_720, 27_423_808, 144.56),
    "gelan-c-dseg": (27_668_256, 27_447_616, 145.52),
    "yolov9-c-seg": (57_991_744, 57_651_072, 369.62),
}


def _meta(name: str, num_classes: int = 80) -> YOLOv9:
    with torch.device("meta"):
        return build_model(name, num_classes=num_classes)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_segmentation_name_is_listed() -> None:
    assert sorted(list_models("segment")) == sorted(EXPECTED)
    everything = set(list_models("detect")) | set(EXPECTED)
    everything |= set(list_models("panoptic")) | set(list_models("caption"))
    everything |= set(list_models("all"))
    assert set(list_models()) == everything


@pytest.mark.parametrize("name", list(EXPECTED))
def test_sizes_are_pinned(name: str) -> None:
    params, entries, _, converted, converted_fused = EXPECTED[name]
    model = _meta(name)
    assert model.name == name
    assert model.task == "segment"
    assert _params(model) == params
    assert len(model.state_dict()) == entries
    model.eval().drop_aux()
    assert _params(model) == converted
    assert _params(model.fuse()) == converted_fused


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in EXPECTED if n not in SPEC_TABLE])
def test_gflops_of_our_sizes_are_pinned(name: str) -> None:
    assert count_gflops(_meta(name), 640) == pytest.approx(EXPECTED[name][2], abs=0.1)


@pytest.mark.parametrize("name", list(SPEC_TABLE))
def test_authors_graphs_equal_the_spec_table(name: str) -> None:
    params, fused, gflops = SPEC_TABLE[name]
    model = _meta(name)
    assert name in AUTHORS_GRAPHS
    assert (_params(model), count_gflops(model, 640)) == (params, pytest.approx(gflops, abs=0.01))
    assert _params(model.eval().fuse()) == fused


def test_our_extensions_are_not_marked_as_the_authors() -> None:
    ours = [n for n in EXPECTED if n not in AUTHORS_GRAPHS]
    assert len(ours) == len(EXPECTED) - 3
    assert "yolov9-t-seg" in ours
    assert "gelan-e-dseg" in ours


def test_names() -> None:
    assert parse_model_name("yolov9-c-dseg") == parse_model_name("yolov9-c-seg")  # file name
    assert parse_model_name("gelan-c-seg").head == HeadKind("segment")
    assert parse_model_name("gelan-c-dseg").head == HeadKind("dsegment", proto_depth=1)
    assert parse_model_name("YOLOv9-C-SEG").head == HeadKind("dsegment", proto_depth=2)
    with pytest.raises(ConfigError, match="gelan-c-seg"):
        parse_model_name("gelan-c-segg")
    with pytest.raises(ConfigError, match="no PGI form"):
        YOLOv9(parse_model_name("gelan-c").spec, with_aux=True, head=HeadKind("segment"))


@pytest.mark.parametrize("name", ["gelan-t-seg", "gelan-s-dseg", "yolov9-t-seg", "yolov9-m-seg"])
def test_output_layout(name: str) -> None:
    model = build_model(name, num_classes=3).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 96))
    anchors = (8 * 12) + (4 * 6) + (2 * 3)
    for head in [out.main] + ([out.aux] if out.aux is not None else []):
        assert head.pred_logits.shape == (2, anchors, 3)
        assert head.coeffs is not None
        assert head.coeffs.shape == (2, anchors, 32)
        assert head.protos is not None
        assert head.protos.shape == (2, 32, 16, 24)


def test_detection_and_segmentation_share_everything_but_the_head() -> None:
    det, seg = _meta("yolov9-c").state_dict(), _meta("yolov9-c-seg").state_dict()
    heads = ("head.", "aux.head.")
    shared = {k: v.shape for k, v in det.items() if not k.startswith(heads)}
    assert all(seg[k].shape == s for k, s in shared.items())  # backbone, neck, PGI branch
    assert {k for k in seg if k not in det and not k.startswith(heads)} == set()
    new = {k.split(".")[2 if k.startswith("aux.") else 1] for k in seg if k not in det}
    assert new == {"coef", "proto"}  # the only additions: coefficient and prototype branches


@pytest.mark.parametrize(
    ("size", "num_classes"), [("t", 1), ("s", 80), ("m", 3), ("c", 80), ("e", 2)]
)
def test_drop_aux_keeps_every_main_output_bit_identical(size: str, num_classes: int) -> None:
    torch.manual_seed(0)
    model = build_model(f"yolov9-{size}-seg", num_classes=num_classes).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x).main
        after = model.drop_aux()(x).main
    assert model.name == f"gelan-{size}-dseg"
    for field in ("pred_dist", "pred_logits", "coeffs", "protos"):
        assert torch.equal(getattr(before, field), getattr(after, field)), field


@pytest.mark.parametrize("num_classes", [1, 3, 91])
def test_any_class_count_changes_only_the_class_branches(num_classes: int) -> None:
    diff = _params(_meta("yolov9-c-seg", num_classes)) - _params(_meta("yolov9-c-seg"))
    assert diff == (3 * (256 + 1) + 3 * (512 + 1)) * (num_classes - 80)
