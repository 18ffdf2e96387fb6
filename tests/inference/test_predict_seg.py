"""Prediction with segmentation checkpoints, end to end: masks in original pixels from the
Python API and from ``yolov9 predict`` (JSON as RLE or polygons), equal to the reference's
recipe where the letterbox is the identity; detection checkpoints refuse the mask options."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from faster_coco_eval.core import mask as coco_mask

from tests.conftest import randomize_
from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.cli import main
from yolov9.data.images import boxes_to_original
from yolov9.errors import ConfigError
from yolov9.inference import InstanceMasks
from yolov9.inference.backends import Decoded, TorchBackend, nms_with_masks
from yolov9.inference.result import Result
from yolov9.models import build_model
from yolov9.ops.masks import crop_masks, process_masks

NAMES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def seg_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random gelan-t-seg checkpoint (3 classes, 128 px)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("seg") / "seg.pt"
    return save_checkpoint(path, build_model("gelan-t-seg", 3), NAMES, meta={"imgsz": 128})


@pytest.fixture(scope="module")
def dseg_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gelan-t-dseg checkpoint with randomised BN statistics and biases: its own masks are
    partial (neither empty nor the whole box), which random initial weights do not give."""
    torch.manual_seed(1)
    model = randomize_(build_model("gelan-t-dseg", 3))
    path = tmp_path_factory.mktemp("dseg") / "dseg.pt"
    return save_checkpoint(path, model, NAMES, meta={"imgsz": 128})


@pytest.fixture(scope="module")
def det_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("det") / "det.pt"
    return save_checkpoint(path, build_model("gelan-t", 2), ["a", "b"], meta={"imgsz": 128})


def _image(shape: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def shape_outputs(monkeypatch: pytest.MonkeyPatch, seed: int = 0) -> None:
    """Every PyTorch backend keeps its model's scores but gives small boxes (12-40 input
    pixels, some in the padding or across the border) and smooth prototypes with random
    coefficients, so that masks are blobs filling part of their box (a random network's masks
    are empty or fill their whole, image-sized box)."""
    infer = TorchBackend.infer

    def shaped(self: TorchBackend, images: torch.Tensor) -> Decoded:
        out = infer(self, images)
        assert out.coeffs is not None
        assert out.protos is not None
        g = torch.Generator().manual_seed(seed)
        b, a, _ = out.boxes.shape
        h, w = images.shape[2:]
        centre = torch.rand(b, a, 2, generator=g) * torch.tensor([w, h])
        size = 12 + torch.rand(b, a, 2, generator=g) * 28
        boxes = torch.cat((centre - size / 2, centre + size / 2), -1)
        m, ph, pw = out.protos.shape[1:]
        low = torch.randn(b, m, ph // 4 + 1, pw // 4 + 1, generator=g) * 3
        protos = F.interpolate(low, (ph, pw), mode="bicubic", align_corners=False)
        coeffs = torch.randn(out.coeffs.shape, generator=g) / math.sqrt(m)
        return Decoded(boxes, out.scores, coeffs, protos)

    monkeypatch.setattr(TorchBackend, "infer", shaped)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def check_masks(result: Result) -> np.ndarray:
    """The result's masks are one per detection, of the image's shape, inside their boxes
    (rounded outward); returns them dense."""
    assert isinstance(result.masks, InstanceMasks)
    assert len(result.masks) == len(result)
    assert result.masks.shape == result.orig_shape == result.image.shape[:2]
    dense = result.masks.dense()
    assert dense.shape == (len(result), *result.orig_shape)
    for mask, (x1, y1, x2, y2) in zip(dense, result.boxes, strict=True):
        outside = np.ones_like(mask)
        outside[math.floor(y1) : math.ceil(y2), math.floor(x1) : math.ceil(x2)] = False
        assert not (mask & outside).any()
    assert np.array_equal(result.masks.areas, dense.sum((1, 2)))
    return dense


def test_masks_in_original_pixels_both_modes(
    seg_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # non-square images of different sides, letterboxed together into one padded batch
    images = [_image((90, 200), 0), _image((150, 70), 1)]
    shape_outputs(monkeypatch)
    runs = {}
    for full_res in (False, True):
        detector = Detector.from_pretrained(seg_ckpt, device="cpu", full_res_masks=full_res)
        assert detector.predictor.full_res_masks is full_res
        runs[full_res] = detector.predict(images, conf=0.0, max_det=40, batch_size=2)
    ious, partial, differ = [], 0, False
    for default, full in zip(runs[False], runs[True], strict=True):
        assert len(default) == 40
        np.testing.assert_array_equal(default.boxes, full.boxes)
        masks, full_masks = check_masks(default), check_masks(full)
        # compact: bit-packed crops of small masks, far below N full-size bool arrays
        assert default.masks.nbytes < masks.nbytes / 8
        assert full.masks.nbytes < full_masks.nbytes / 8
        boxes = default.boxes
        box_pixels = (np.ceil(boxes[:, 2]) - np.floor(boxes[:, 0])) * (
            np.ceil(boxes[:, 3]) - np.floor(boxes[:, 1])
        )
        areas = default.masks.areas
        partial += int(((areas > 0) & (areas < box_pixels)).sum())
        ious += [_iou(a, b) for a, b in zip(masks, full_masks, strict=True) if (a | b).any()]
        differ |= not np.array_equal(masks, full_masks)
    assert partial >= 10  # the checks above saw real masks, not only empty or full boxes
    assert differ  # the two modes are computed differently
    assert len(ious) >= 10
    assert np.mean(ious) > 0.6


@pytest.mark.parametrize(
    ("case", "shape"),
    [("shaped", (128, 128)), ("own dseg", (128, 128)), ("shaped", (60, 200))],
    ids=["identity", "identity-own-masks", "letterboxed"],
)
def test_torch_masks_follow_the_reference_recipe(
    case: str,
    shape: tuple[int, int],
    seg_ckpt: Path,
    dseg_ckpt: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The backend's raw outputs, our NMS and the reference's network-input masks
    (process_mask: crop in prototype pixels, upsample, > 0.5) by hand: with no letterbox
    padding and ratio 1 the predictor's masks are exactly those, cut to the boxes it reports;
    through a letterbox (ratio 0.64, 13 rows of padding on top) they are those masks' image
    region resized to the original."""
    shaped = case == "shaped"
    if shaped:
        shape_outputs(monkeypatch, seed=3)
    detector = Detector.from_pretrained(seg_ckpt if shaped else dseg_ckpt, device="cpu")
    image = _image(shape, 2)
    result = detector.predict(image, conf=0.0, max_det=30)[0]

    batch, (info,) = detector.predictor.preprocess([image])  # the very input it ran on
    decoded = detector.backend.infer(batch)
    det = nms_with_masks(decoded, conf_threshold=0.0, iou_threshold=0.45, max_det=30)[0]
    assert det.coeffs is not None
    assert det.protos is not None
    input_shape = (int(batch.shape[2]), int(batch.shape[3]))
    assert det.protos.shape[1:] == (input_shape[0] // 4, input_shape[1] // 4)
    reference = process_masks(det.protos, det.coeffs, det.boxes, input_shape)

    np.testing.assert_array_equal(result.boxes, boxes_to_original(det.boxes.numpy(), info))
    got = check_masks(result)
    assert got.any()
    if not shaped:  # the network's own masks: partial, so the comparison means something
        assert ((got.sum((1, 2)) > 0) & ~got.all((1, 2))).any()
    if shape == (128, 128):
        assert info.ratio == 1.0
        assert info.pad == (0.0, 0.0)
        assert np.array_equal(got, crop_masks(reference, det.boxes).numpy())
        assert not (got & ~reference.numpy()).any()
        return
    assert info.ratio == pytest.approx(0.64)
    assert info.pad == (0.0, 13.0)
    assert input_shape == (64, 128)
    h0, w0 = shape
    rows = round(h0 * info.ratio)
    ious = []
    for mask, network, (x1, y1, x2, y2) in zip(got, reference.numpy(), result.boxes, strict=True):
        region = network[13 : 13 + rows].astype(np.float32)
        resized = cv2.resize(region, (w0, h0), interpolation=cv2.INTER_LINEAR) > 0.5
        inside = np.zeros_like(resized)
        inside[math.ceil(y1) : math.ceil(y2), math.ceil(x1) : math.ceil(x2)] = True
        expected = resized & inside
        if expected.any() or mask.any():
            ious.append(_iou(mask, expected))
    assert len(ious) >= 10
    assert np.mean(ious) > 0.9
    assert min(ious) > 0.5


def _write(path: Path, image: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def test_cli_writes_rle_and_polygon_masks(
    tmp_path: Path, seg_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shape_outputs(monkeypatch, seed=5)
    source = _write(tmp_path / "scene.png", _image((100, 150), 4))
    expected = Detector.from_pretrained(seg_ckpt, device="cpu").predict(
        source, conf=0.0, max_det=12
    )[0]
    dense = check_masks(expected)
    assert (dense.sum((1, 2)) >= 20).sum() >= 4
    common = ["predict", "--weights", str(seg_ckpt), "--source", str(source)]
    common += ["--conf", "0.0", "--max-det", "12", "--device", "cpu"]

    rle_json, run = tmp_path / "rle.json", tmp_path / "run"
    assert main([*common, "--out", str(run), "--save-json", str(rle_json)]) == 0
    assert [p.name for p in run.iterdir()] == ["scene.png"]  # the annotated image
    annotated = cv2.cvtColor(cv2.imread(str(run / "scene.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(annotated, expected.plot())  # translucent masks included
    records = json.loads(rle_json.read_text())
    assert len(records) == len(expected) == 12
    for record, box, mask in zip(records, expected.boxes, dense, strict=True):
        np.testing.assert_allclose(record["box"], box, atol=0.01)
        rle = record["mask"]
        assert set(rle) == {"size", "counts"}
        assert rle["size"] == [100, 150]
        assert isinstance(rle["counts"], str)
        decoded = coco_mask.decode({"size": rle["size"], "counts": rle["counts"].encode()})
        assert np.array_equal(decoded.astype(bool), mask)

    poly_json = tmp_path / "poly.json"
    argv = [*common, "--no-save", "--save-json", str(poly_json), "--mask-format", "polygon"]
    assert main(argv) == 0
    records = json.loads(poly_json.read_text())
    assert len(records) == 12
    ious = []
    for record, box, mask in zip(records, expected.boxes, dense, strict=True):
        polygons = record["mask"]
        assert isinstance(polygons, list)
        if mask.sum() >= 20:
            assert polygons
        filled = np.zeros((100, 150), np.uint8)
        for flat in polygons:
            assert isinstance(flat, list)
            assert len(flat) >= 6
            assert len(flat) % 2 == 0
            xy = np.asarray(flat, np.float64).reshape(-1, 2)
            assert (xy >= [math.floor(box[0]), math.floor(box[1])]).all()  # image pixels
            assert (xy < [math.ceil(box[2]), math.ceil(box[3])]).all()
            cv2.fillPoly(filled, [np.round(xy).astype(np.int32)], 1)
        if mask.any():  # the outer boundaries give the mask back (tiny parts, holes aside)
            ious.append(_iou(filled.astype(bool), mask))
    assert np.mean(ious) > 0.9


def test_cli_video_with_masks(
    tmp_path: Path, seg_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Videos go through the same path: every frame's detections carry masks, the annotated
    video is written, and JSON records name their frame."""
    shape_outputs(monkeypatch, seed=6)
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (96, 64))
    for k in range(3):
        writer.write(cv2.cvtColor(_image((64, 96), k), cv2.COLOR_RGB2BGR))
    writer.release()
    results = Detector.from_pretrained(seg_ckpt, device="cpu").predict(path, conf=0.0, max_det=5)
    assert [r.frame for r in results] == [0, 1, 2]
    assert all(r.masks is not None and len(r.masks) == len(r) == 5 for r in results)
    out, records = tmp_path / "run", tmp_path / "v.json"
    argv = ["predict", "--weights", str(seg_ckpt), "--source", str(path), "--conf", "0.0"]
    argv += ["--max-det", "5", "--device", "cpu", "--out", str(out), "--save-json", str(records)]
    assert main(argv) == 0
    assert [p.suffix for p in out.iterdir()] == [".mp4"]
    written = json.loads(records.read_text())
    assert sorted({r["frame"] for r in written}) == [0, 1, 2]
    assert all(r["mask"]["size"] == [64, 96] for r in written)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--mask-format", "polygon", "--save-json", "{out}"], "--mask-format needs a segment"),
        (["--full-res-masks"], "full-resolution masks need a segmentation model"),
    ],
)
def test_cli_mask_options_need_a_segmentation_model(
    tmp_path: Path,
    det_ckpt: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    source = _write(tmp_path / "x.png", _image((64, 96), 5))
    flags = [str(tmp_path / "out.json") if f == "{out}" else f for f in flags]
    argv = ["predict", "--weights", str(det_ckpt), "--source", str(source), "--no-save"]
    assert main([*argv, "--device", "cpu", *flags]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: ")
    assert message in lines[-1]
    assert not (tmp_path / "out.json").exists()


def test_task_of_detection_and_segmentation_models(seg_ckpt: Path, det_ckpt: Path) -> None:
    seg = Detector.from_pretrained(seg_ckpt, device="cpu")
    det = Detector.from_pretrained(det_ckpt, device="cpu")
    assert seg.task == "segment"
    assert det.task == "detect"
    in_memory = Detector(build_model("yolov9-t-seg", 2), ["a", "b"], imgsz=64, device="cpu")
    assert in_memory.task == "segment"
    assert in_memory.backend.model.aux is None  # the PGI branch is dropped for inference
    image = _image((48, 80), 6)
    assert det.predict(image, conf=0.0, max_det=3)[0].masks is None
    result = in_memory.predict(image, conf=0.0, max_det=3)[0]
    assert len(result) == 3
    check_masks(result)
    with pytest.raises(ConfigError, match="segmentation model"):
        Detector.from_pretrained(det_ckpt, device="cpu", full_res_masks=True)
