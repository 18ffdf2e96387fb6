"""The authors' panoptic checkpoint (GELAN-C-PAN): the network we build for it, and every
reference output (boxes, scores, coefficients, prototypes, semantic logits and the semantic
argmax at image size) from ../shared/parity/pan."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from yolov9.checkpoints import load_weights, save_checkpoint
from yolov9.config import LossConfig
from yolov9.errors import ConfigError
from yolov9.loss import PanopticLoss
from yolov9.models import SPECS, HeadKind, YOLOv9, build_model, list_models
from yolov9.ops import box_xyxy_to_xywh
from yolov9.tasks.panoptic import PanopticLabels, semantic_map
from yolov9.tasks.panoptic.labels import VOID
from yolov9.tasks.registry import get_task

# the fixtures' README: the seg tolerances and 2e-3 on semantic logits
TOL = {"boxes": 0.5, "scores": 2e-3, "coeffs": 1e-2, "protos": 2e-2, "semantic": 2e-3}


def test_gelan_c_pan_counts_are_the_authors() -> None:
    model = build_model("gelan-c-pan", 80)
    assert model.name == "gelan-c-pan"
    assert model.task == "panoptic"
    assert sum(p.numel() for p in model.parameters()) == 27_793_549
    assert sum(p.numel() for p in model.head.parameters()) == 7_847_117
    assert sum(p.numel() for p in model.head.semantic.parameters()) == 158_829
    assert sum(p.numel() for p in model.head.proto.parameters()) == 1_188_928


def test_the_stuff_count_is_any() -> None:
    model = build_model("gelan-t-pan", 3, stuff_classes=5).eval()
    out = model(torch.rand(1, 3, 64, 64)).main
    assert out.semantic is not None
    assert out.semantic.shape == (1, 8, 16, 16)  # things then stuff, stride 4


def test_parity_gelan_c_pan(shared: Path, pan_checkpoint: Path, tmp_path: Path) -> None:
    loaded = load_weights(pan_checkpoint)
    model = loaded.model.eval()
    assert (model.name, loaded.source_format, model.head_kind.stuff_classes) == (
        "gelan-c-pan",
        "official",
        93,
    )
    root = shared / "parity"
    x = torch.from_numpy(np.load(root / "input_640_uint8.npy"))[None].float() / 255
    ref = np.load(root / "pan" / "gelan-c-pan-nc80.outputs.npz")
    with torch.no_grad():
        out = model(x).main
    boxes, scores = model.head.decode(out)
    assert out.coeffs is not None
    assert out.protos is not None
    assert out.semantic is not None
    pred = torch.cat((box_xyxy_to_xywh(boxes), scores, out.coeffs), -1)[0].T.numpy()
    diffs = {
        "boxes": np.abs(pred[:4] - ref["pred"][0, :4]).max(),
        "scores": np.abs(pred[4:84] - ref["pred"][0, 4:84]).max(),
        "coeffs": np.abs(pred[84:] - ref["pred"][0, 84:]).max(),
        "protos": np.abs(out.protos.numpy() - ref["proto"]).max(),
        "semantic": np.abs(out.semantic.numpy() - ref["sem"]).max(),
    }
    assert all(diffs[k] <= TOL[k] for k in TOL), diffs
    # the semantic argmax at image size, by the code prediction runs (the reference: bilinear,
    # align_corners=False, argmax)
    ours = semantic_map(out.semantic[0], (640, 640))
    theirs = F.interpolate(torch.from_numpy(ref["sem"]), size=(640, 640), mode="bilinear")
    agree = (ours == theirs.argmax(1)[0].numpy()).mean()
    assert agree >= 0.999
    channels = json.loads((root / "pan" / "semantic_channels.json").read_text())
    assert out.semantic.shape[1] == len(channels) == 173
    # each channel gives the COCO panoptic category the reference's export gives it
    labels = PanopticLabels.for_model(loaded.names, load_weights(pan_checkpoint).stuff_names)
    ids = [0 if c == VOID else labels.category_ids[c] for c in labels.channel_category]
    assert ids == [c["panoptic_category_id"] for c in channels]
    names = [None if c == VOID else labels.names[c] for c in labels.channel_category]
    assert names == [c["panoptic_name"] for c in channels]
    # our own format keeps the stuff count: a round trip gives the same network
    again = load_weights(save_checkpoint(tmp_path / "p.pt", model, loaded.names)).model.eval()
    with torch.no_grad():
        assert torch.equal(again(x).main.semantic, out.semantic)


def test_panoptic_names_and_criteria() -> None:
    assert "gelan-t-pan" in list_models("panoptic")
    for name in ("gelan-t-pan", "yolov9-t-pan"):
        model = build_model(name, 2, stuff_classes=3)
        criterion = get_task(model.task).criterion(model, LossConfig())
        assert isinstance(criterion, PanopticLoss)
        assert criterion.terms == ("box", "seg", "cls", "dfl", "focal", "dice")
    with pytest.raises(ConfigError, match="the authors' Panoptic head has no PGI form"):
        YOLOv9(SPECS["t"], 2, with_aux=True, head=HeadKind("panoptic", stuff_classes=3))


def test_the_release_name_downloads_and_reads_safely(
    pan_checkpoint: Path, server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``gelan-c-pan`` is the authors' release file: fetched from the release URL (here a
    local server with the fixture under that name), unpickled by the safe reader."""
    from yolov9.checkpoints import hub
    from yolov9.utils import paths

    url, root, requests = server
    shutil.copy(pan_checkpoint, root / "gelan-c-pan.pt")
    monkeypatch.setenv(hub.ENV_URL, url)
    monkeypatch.setenv(paths.ENV_CACHE, str(tmp_path / "cache"))
    loaded = load_weights("gelan-c-pan", progress=False)
    assert requests == ["/gelan-c-pan.pt"]
    assert (loaded.model.name, loaded.source_format, len(loaded.stuff_names)) == (
        "gelan-c-pan",
        "official",
        93,
    )
