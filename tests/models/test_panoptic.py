"""The panoptic graphs: the authors' gelan-x-pan, and ours for PGI (yolov9-x-pan, converted
gelan-x-dpan): counts and GFLOPs pinned for every size, the rule that builds them, and the
conversion that keeps every main-head output bit-identical."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from yolov9.checkpoints import load_weights, save_checkpoint
from yolov9.cli import main
from yolov9.models import AUTHORS_GRAPHS, build_model, list_models
from yolov9.models.summary import model_summary
from yolov9.utils.flops import count_gflops

# name: (params, params fused, GFLOPs at 640 fused), 80 things + 93 stuff
EXPECTED = {
    "yolov9-t-pan": (4_159_146, 4_112_234, 23.07),
    "gelan-t-pan": (2_737_229, 2_701_853, 13.58),
    "gelan-t-dpan": (2_653_453, 2_617_181, 13.15),
    "yolov9-s-pan": (11_025_978, 10_869_370, 63.08),
    "gelan-s-pan": (7_857_677, 7_736_845, 38.07),
    "gelan-s-dpan": (7_797_645, 7_673_997, 37.92),
    "yolov9-m-pan": (37_120_258, 36_874_722, 214.30),
    "gelan-m-pan": (22_088_913, 21_942_653, 115.37),
    "gelan-m-dpan": (22_107_393, 21_952_493, 116.14),
    "yolov9-c-pan": (58_762_970, 58_422_106, 379.67),
    "gelan-c-pan": (27_793_549, 27_582_573, 146.69),
    "gelan-c-dpan": (27_827_085, 27_606_381, 147.64),
    "yolov9-e-pan": (74_499_162, 73_600_282, 336.12),
    "gelan-e-pan": (60_409_229, 59_639_725, 233.50),
    "gelan-e-dpan": (60_442_765, 59_663_533, 234.45),
}


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_panoptic_name_is_listed() -> None:
    assert sorted(list_models("panoptic")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_are_pinned(name: str) -> None:
    with torch.device("meta"):
        model = build_model(name)
    params, fused, gflops = EXPECTED[name]
    assert _params(model) == params
    assert _params(copy.deepcopy(model).eval().fuse()) == fused
    assert count_gflops(model, 640) == pytest.approx(gflops, abs=0.01)


def test_gelan_c_pan_gflops_are_the_authors_figures() -> None:
    """The upstream README's 146.7 (fused) and the reference's 148.1 printed when it builds
    the model (unfused, thop also counting BatchNorm), both with thop's bilinear rule."""
    with torch.device("meta"):
        model = build_model("gelan-c-pan")
    assert round(count_gflops(model, 640), 1) == 146.7
    assert round(count_gflops(model, 640, fuse=False, batchnorm=True), 1) == 148.1


def test_the_pgi_graph_is_yolov9_seg_plus_a_semantic_branch_per_head() -> None:
    with torch.device("meta"):
        pan, seg = build_model("yolov9-c-pan"), build_model("yolov9-c-seg")
    assert pan.aux is not None
    assert seg.aux is not None
    # the same backbone, neck and auxiliary reversible branch; each head gains the branch
    for part in ("backbone", "neck"):
        assert _params(getattr(pan, part)) == _params(getattr(seg, part))
    assert _params(pan.head) - _params(seg.head) == _params(pan.head.semantic) == 158_829
    assert _params(pan.aux.head) - _params(seg.aux.head) == _params(pan.aux.head.semantic)
    assert _params(pan.aux.head.semantic) == 612_397  # on the auxiliary backbone's 512-ch P3
    assert _params(pan.aux) - _params(pan.aux.head) == _params(seg.aux) - _params(seg.aux.head)


def test_info_says_whose_graph_it_is() -> None:
    assert "gelan-c-pan" in AUTHORS_GRAPHS
    with torch.device("meta"):
        ours = model_summary(build_model("yolov9-c-pan"))
        theirs = model_summary(build_model("gelan-c-pan"))
    assert theirs["graph"] == "the authors' model file"
    assert ours["graph"].startswith("ours: the authors' PGI panoptic graph does not build")


def test_convert_keeps_every_main_output_bit_identical(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("yolov9-t-pan", 3, stuff_classes=4).eval()
    src = save_checkpoint(
        tmp_path / "train.pt", model, ["a", "b", "c"], meta={"stuff_names": list("wxyz")}
    )
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        before = model(x).main
    assert main(["convert", str(src), str(tmp_path / "deploy.pt")]) == 0
    loaded = load_weights(tmp_path / "deploy.pt")
    assert loaded.model.name == "gelan-t-dpan"
    assert loaded.model.aux is None
    assert loaded.stuff_names == list("wxyz")
    with torch.no_grad():
        after = loaded.model.eval()(x).main
    for field in ("pred_dist", "pred_logits", "coeffs", "protos", "semantic"):
        assert torch.equal(getattr(before, field), getattr(after, field)), field
