"""Pin the facts of every variant: parameter counts, state-dict sizes, GFLOPs, strides."""

from __future__ import annotations

import pytest
import torch

from yolov9.models import SPECS, build_model, list_models, parse_model_name
from yolov9.utils.flops import count_gflops

# (params unfused, params fused, state-dict entries, GFLOPs at 640), 80 classes: the spec's
# tables 2.6, cross-checked against the published README totals for S/M/C/E.
EXPECTED = {
    "gelan-t": (2_442_640, 2_407_632, 1339, 9.82),
    "gelan-s": (7_226_208, 7_105_888, 1339, 26.38),
    "gelan-m": (20_124_000, 19_978_672, 907, 76.32),
    "gelan-c": (25_498_752, 25_288_768, 937, 102.15),
    "gelan-e": (58_114_432, 57_345_920, 1811, 188.95),
    "yolov9-t": (3_717_680, 3_674_576, 1772, 16.17),
    "yolov9-s": (9_804_512, 9_659_168, 1772, 39.06),
    "yolov9-m": (32_878_432, 32_667_400, 1412, 131.33),
    "yolov9-c": (51_182_080, 50_880_768, 1460, 237.64),
    "yolov9-e": (69_529_664, 68_669_632, 2172, 241.36),
}


def _meta(name: str, num_classes: int = 80):
    with torch.device("meta"):
        return build_model(name, num_classes=num_classes)


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_name_is_listed() -> None:
    assert sorted(list_models("detect")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_parameter_counts(name: str) -> None:
    params, fused, entries, _ = EXPECTED[name]
    model = _meta(name)
    assert _params(model) == params
    assert len(model.state_dict()) == entries
    assert _params(model.eval().fuse()) == fused


@pytest.mark.parametrize("name", list(EXPECTED))
def test_gflops_match_reference(name: str) -> None:
    assert count_gflops(_meta(name), 640) == pytest.approx(EXPECTED[name][3], abs=0.1)


def test_spec_table_agrees_with_pinned_counts() -> None:
    for size, spec in SPECS.items():
        assert spec.params_train == EXPECTED[f"yolov9-{size}"][0]
        assert spec.params_deploy == EXPECTED[f"gelan-{size}"][0]
        assert spec.params_train_fused == EXPECTED[f"yolov9-{size}"][1]
        assert spec.params_deploy_fused == EXPECTED[f"gelan-{size}"][1]


@pytest.mark.parametrize("num_classes", [1, 3, 91])
def test_any_class_count_changes_only_the_class_branches(num_classes: int) -> None:
    base, other = _meta("yolov9-c"), _meta("yolov9-c", num_classes)
    diff = _params(other) - _params(base)
    # main head: c3 = 256 for any C <= 128; aux head: c3 = 512. Last 1x1 conv: c3·C + C.
    per_class = 3 * (256 + 1) + 3 * (512 + 1)
    assert diff == per_class * (num_classes - 80)


@pytest.mark.parametrize("name", ["gelan-t", "yolov9-t", "yolov9-m", "gelan-e"])
def test_output_shapes_and_strides(name: str) -> None:
    model = build_model(name, num_classes=5).eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 64, 96))
    anchors = (8 * 12) + (4 * 6) + (2 * 3)  # strides 8, 16, 32
    for head in [out.main] + ([out.aux] if out.aux is not None else []):
        assert head.pred_dist.shape == (2, anchors, 64)
        assert head.pred_logits.shape == (2, anchors, 5)
        assert head.stride_tensor.flatten().unique().tolist() == [8.0, 16.0, 32.0]
    assert (out.aux is None) == name.startswith("gelan")


def test_unknown_name_suggests_a_close_one() -> None:
    with pytest.raises(ValueError, match="Did you mean 'yolov9-c'"):
        parse_model_name("yolov9c")
    with pytest.raises(ValueError, match="unknown model 'resnet50'"):
        build_model("resnet50")
