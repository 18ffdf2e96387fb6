"""The authors' segmentation checkpoints: parity with the reference's outputs (both heads of the
training graph), post-processed masks, conversion, and round trips of every size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.checkpoints.official_format import write_official
from tests.conftest import randomize_
from yolov9.checkpoints import load_weights
from yolov9.engine.convert import convert_checkpoint
from yolov9.models import build_model
from yolov9.models.head import HeadOutput
from yolov9.ops import box_xyxy_to_xywh
from yolov9.ops.masks import process_masks
from yolov9.ops.nms import non_max_suppression

# The fixtures' README: what the reference itself moves by between thread counts, float64 and
# fusing is below these; real mistakes are orders of magnitude above.
TOL = {"boxes": 0.5, "scores": 2e-3, "coeffs": 1e-2, "protos": 2e-2}


def _input(shared: Path) -> torch.Tensor:
    return torch.from_numpy(np.load(shared / "parity" / "input_640_uint8.npy"))[None].float() / 255


def _reference_layout(head: torch.nn.Module, out: HeadOutput) -> tuple[np.ndarray, np.ndarray]:
    """(4 + C + 32, A) with (cx, cy, w, h), sigmoid scores and coefficients; and the protos."""
    boxes, scores = head.decode(out)  # type: ignore[operator]
    assert out.coeffs is not None
    assert out.protos is not None
    pred = torch.cat((box_xyxy_to_xywh(boxes), scores, out.coeffs), -1)[0].T
    return pred.numpy(), out.protos[0].numpy()


def _assert_parity(
    pred: np.ndarray, proto: np.ndarray, ref_pred: np.ndarray, ref_proto: np.ndarray
):
    assert pred.shape == ref_pred.shape == (116, 8400)
    assert proto.shape == ref_proto.shape == (32, 160, 160)
    diffs = {
        "boxes": np.abs(pred[:4] - ref_pred[:4]).max(),
        "scores": np.abs(pred[4:84] - ref_pred[4:84]).max(),
        "coeffs": np.abs(pred[84:] - ref_pred[84:]).max(),
        "protos": np.abs(proto - ref_proto).max(),
    }
    assert all(diffs[k] <= TOL[k] for k in TOL), diffs
    # Same operations in the same order: near bit-identical on average, not just within TOL.
    assert np.abs(pred[4:] - ref_pred[4:]).mean() < 1e-5
    assert np.abs(proto - ref_proto).mean() < 1e-5


def _mask_agreement(
    pred: np.ndarray, proto: np.ndarray, ref_pred: np.ndarray, ref_proto: np.ndarray
):
    """Detections after NMS (conf 0.25, IoU 0.45) one to one, and their masks as the reference
    post-processes them (crop to box, bilinear to 640, > 0.5) from our outputs and from the
    reference's: returns (number of detections, worst mask IoU)."""
    dets = []
    for p, pr in ((pred, proto), (ref_pred, ref_proto)):
        p = torch.from_numpy(p).T
        xyxy = torch.cat((p[:, :2] - p[:, 2:4] / 2, p[:, :2] + p[:, 2:4] / 2), 1)
        (det,) = non_max_suppression(xyxy[None], p[None, :, 4:84], conf_threshold=0.25)
        assert det.anchors is not None
        masks = process_masks(torch.from_numpy(pr), p[det.anchors, 84:], det.boxes, (640, 640))
        dets.append((det, masks))
    (a, ma), (b, mb) = dets
    assert torch.equal(a.anchors, b.anchors)
    assert torch.equal(a.labels, b.labels)
    inter = (ma & mb).flatten(1).sum(1).float()
    union = (ma | mb).flatten(1).sum(1).float().clamp(min=1)
    return len(a), float((inter / union).min())


def test_parity_gelan_c_seg(shared: Path, seg_files: dict[str, Path]) -> None:
    loaded = load_weights(seg_files["gelan-c-seg-nc80"])
    model = loaded.model.eval()
    assert (model.name, loaded.source_format, model.task) == ("gelan-c-seg", "official", "segment")
    assert sum(p.numel() for p in model.parameters()) == 27_634_720
    assert loaded.names[0] == "person"
    ref = np.load(shared / "parity" / "seg" / "gelan-c-seg-nc80.outputs.npz")
    with torch.no_grad():
        pred, proto = _reference_layout(model.head, model(_input(shared)).main)
    _assert_parity(pred, proto, ref["pred"][0], ref["proto"][0])
    n, worst_iou = _mask_agreement(pred, proto, ref["pred"][0], ref["proto"][0])
    assert n == 212  # the README's count after NMS
    assert worst_iou >= 0.998


def test_parity_yolov9_c_seg_both_heads(shared: Path, seg_files: dict[str, Path]) -> None:
    loaded = load_weights(seg_files["yolov9-c-dseg-nc80"])
    model = loaded.model.eval()
    assert model.name == "yolov9-c-seg"
    assert model.head_kind.proto_depth == 2
    assert sum(p.numel() for p in model.parameters()) == 57_991_744
    ref = np.load(shared / "parity" / "seg" / "yolov9-c-dseg-nc80.outputs.npz")
    with torch.no_grad():
        out = model(_input(shared))
    assert model.aux is not None
    assert out.aux is not None
    for which, head, raw, count in (
        ("main", model.head, out.main, 175),
        ("aux", model.aux.head, out.aux, 185),
    ):
        pred, proto = _reference_layout(head, raw)
        _assert_parity(pred, proto, ref[f"pred_{which}"][0], ref[f"proto_{which}"][0])
        n, worst_iou = _mask_agreement(
            pred, proto, ref[f"pred_{which}"][0], ref[f"proto_{which}"][0]
        )
        assert n == count
        assert worst_iou >= 0.95


def test_convert_keeps_the_training_depth(seg_files: dict[str, Path], tmp_path: Path) -> None:
    report = convert_checkpoint(seg_files["yolov9-c-dseg-nc80"], tmp_path / "gelan-c-dseg.pt")
    assert (report.source_model, report.model) == ("yolov9-c-seg", "gelan-c-dseg")
    assert report.params == 27_824_672  # not the 27,668,256 of the authors' gelan-c-dseg.yaml
    assert report.max_diff == 0.0  # boxes, classes, coefficients and protos bit-identical
    reloaded = load_weights(report.output).model
    assert reloaded.head_kind.proto_depth == 2
    assert reloaded.aux is None


@pytest.mark.parametrize(
    ("name", "num_classes"),
    [("yolov9-t-seg", 3), ("gelan-s-seg", 1)],
)
def test_round_trip_through_reference_format(tmp_path: Path, name: str, num_classes: int) -> None:
    model = randomize_(build_model(name, num_classes=num_classes).eval())
    model.half().float()  # the authors' files are fp16
    names = [f"c{i}" for i in range(num_classes)]
    loaded = load_weights(write_official(tmp_path / "x.pt", model, names))
    assert loaded.model.name == name
    assert loaded.model.head_kind == model.head_kind
    theirs = loaded.model.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in model.state_dict().items())


@pytest.mark.slow
def test_converted_small_model_is_told_apart_from_the_shallow_one(tmp_path: Path) -> None:
    """A converted yolov9-t-seg (prototype depth 2) and gelan-t-dseg (depth 1) have the same
    layer list; the reader finds the depth from the tensors."""
    converted = build_model("yolov9-t-seg", num_classes=2).eval().drop_aux()
    loaded = load_weights(write_official(tmp_path / "c.pt", converted, ["a", "b"]))
    assert loaded.model.head_kind.proto_depth == 2
    shallow = build_model("gelan-t-dseg", num_classes=2).eval()
    loaded = load_weights(write_official(tmp_path / "s.pt", shallow, ["a", "b"]))
    assert loaded.model.head_kind.proto_depth == 1
