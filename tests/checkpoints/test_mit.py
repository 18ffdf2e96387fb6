"""MIT-rewrite state dicts. Key counts and sample keys/shapes below were read off models
built by the MIT code itself (v9-t/s/m/c configs), independently of our key map."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import randomize_
from yolov9.checkpoints import load_weights
from yolov9.checkpoints.keymaps import mit_key_map
from yolov9.models import YOLOv9, build_model

MIT_KEY_COUNTS = {
    "yolov9-t": 1776,
    "yolov9-s": 1776,
    "yolov9-m": 1416,
    "yolov9-c": 1464,
    "gelan-c": 939,
}
MIT_SAMPLE_SHAPES = {
    "yolov9-s": {
        "2.conv2.conv.weight": (32, 32, 3, 3),
        "4.conv1.conv.weight": (128, 128, 1, 1),
        "4.conv2.0.conv1.conv.weight": (32, 64, 1, 1),
        "4.conv2.0.bottleneck.0.conv1.conv2.conv.weight": (32, 32, 1, 1),
        "4.conv2.1.conv.weight": (64, 64, 3, 3),
    },
    "yolov9-c": {
        "3.conv1.conv.weight": (128, 128, 3, 3),
        "3.conv2.conv.weight": (128, 128, 1, 1),
        "9.conv5.conv.weight": (512, 1024, 1, 1),
        "23.conv.weight": (256, 512, 1, 1),
        "23.conv.bias": (256,),
        "38.heads.0.anchor_conv.1.conv.weight": (128, 32, 3, 3),
        "22.heads.2.anc2vec.anc2vec.weight": (1, 16, 1, 1, 1),
    },
}


def mit_state(model: YOLOv9) -> dict[str, torch.Tensor]:
    """``model`` in the MIT layout, including its per-level copies of the DFL projection."""
    kmap = mit_key_map(model, model.spec, model.aux is not None)
    sd = model.state_dict()
    out = {kmap[k]: v.clone() for k, v in sd.items()}
    for key in [k for k in out if k.endswith("heads.0.anc2vec.anc2vec.weight")]:
        for level in range(3):
            out[key.replace("heads.0.", f"heads.{level}.")] = out[key].view(1, -1, 1, 1, 1)
    return out


@pytest.mark.parametrize("name", list(MIT_KEY_COUNTS))
def test_key_layout_matches_mit_models(name: str) -> None:
    with torch.device("meta"):
        state = mit_state(build_model(name, num_classes=80))
    assert len(state) == MIT_KEY_COUNTS[name]
    for key, shape in MIT_SAMPLE_SHAPES.get(name, {}).items():
        assert tuple(state[key].shape) == shape, key


@pytest.mark.parametrize(
    ("name", "wrap"),
    [
        ("yolov9-t", None),
        ("gelan-s", "model_state_dict"),
        ("yolov9-m", "state_dict"),
        ("yolov9-c", None),
    ],
)
def test_round_trip_through_mit_layout(tmp_path: Path, name: str, wrap: str | None) -> None:
    model = randomize_(build_model(name, num_classes=6)).eval()
    state = mit_state(model)
    if wrap == "state_dict":  # a Lightning checkpoint
        obj: dict = {"state_dict": {f"model.model.{k}": v for k, v in state.items()}}
    elif wrap:
        obj = {wrap: state}
    else:
        obj = state
    torch.save(obj, tmp_path / "mit.pt")
    loaded = load_weights(tmp_path / "mit.pt")
    assert loaded.source_format == "mit"
    assert loaded.model.name == name
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        a, b = model(x).main, loaded.model.eval()(x).main
    assert torch.equal(a.pred_logits, b.pred_logits)
    assert torch.equal(a.pred_dist, b.pred_dist)
