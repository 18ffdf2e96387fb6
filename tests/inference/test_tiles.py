"""Sliced inference: tile layout, coordinate mapping back into the image, the merge rules,
masks through tiles, tiled validation, and the errors for impossible settings."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import randomize_
from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.cli import main
from yolov9.data.synthetic import write_dataset
from yolov9.errors import ConfigError
from yolov9.inference.backends import Decoded
from yolov9.inference.tiles import TileOptions, merge_groups, tile_starts, tile_windows
from yolov9.models import build_model


def test_tiles_cover_the_image_and_end_at_its_edges() -> None:
    assert tile_starts(1000, 256, 0.2) == [0, 205, 410, 615, 744]  # step 256 - 51
    assert tile_starts(200, 256, 0.2) == [0]  # shorter than a tile: one window
    assert tile_starts(512, 256, 0.0) == [0, 256]
    windows = tile_windows((700, 1000), 256, 0.25)
    covered = np.zeros((700, 1000), bool)
    for x0, y0, x1, y1 in windows:
        assert x1 - x0 == 256
        assert y1 - y0 == 256
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert windows[:, 2].max() == 1000
    assert windows[:, 3].max() == 700


def _white_box_detector(monkeypatch: pytest.MonkeyPatch, seen: list[tuple[int, ...]]) -> Detector:
    """A detector whose network 'finds' the white pixels of each input: one box around them,
    class 1, scoring 0.5 + 0.4 * area / (area + 1600) (a cut object scores lower). Records
    every input batch's shape."""
    det = Detector(build_model("gelan-t", num_classes=2), ["a", "b"], imgsz=256, device="cpu")

    def fake_infer(batch: torch.Tensor) -> Decoded:
        seen.append(tuple(batch.shape))
        boxes = torch.zeros(batch.shape[0], 4, 4)
        scores = torch.zeros(batch.shape[0], 4, 2)
        for i, image in enumerate(batch):
            ys, xs = torch.nonzero((image > 0.99).all(0), as_tuple=True)
            if len(xs):
                box = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                boxes[i, 0] = box
                area = float((box[2] - box[0]) * (box[3] - box[1]))
                scores[i, 0, 1] = 0.5 + 0.4 * area / (area + 1600)
        return Decoded(boxes, scores)

    monkeypatch.setattr(det.backend, "infer", fake_infer)
    return det


def test_a_box_found_in_a_tile_maps_to_its_place_in_the_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, ...]] = []
    det = _white_box_detector(monkeypatch, seen)
    image = np.full((600, 900, 3), 60, np.uint8)
    image[430:450, 700:716] = 255  # 16 x 20 px, inside the last tile column and row
    tile = TileOptions(250, overlap=0.1, batch=4)
    result = det.predict(image, tile=tile)[0]
    assert result.labels.tolist() == [1]
    np.testing.assert_allclose(result.boxes[0], [700, 430, 716, 450])
    assert result.orig_shape == (600, 900)
    # 4 x 3 windows of 250 px, each padded to the stride (256), in batches of 4
    assert seen == [(4, 3, 256, 256)] * 3


def test_a_tile_larger_than_the_image_is_the_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tile larger than the image must not pad the image up to the tile (a 4096 px tile on
    a 200 x 300 image once ran a 4096 x 4096 input, 56x slower than untiled)."""
    seen: list[tuple[int, ...]] = []
    det = _white_box_detector(monkeypatch, seen)
    image = np.full((200, 300, 3), 60, np.uint8)
    image[50:70, 100:130] = 255
    result = det.predict(image, tile=4096)[0]
    np.testing.assert_allclose(result.boxes[0], [100, 50, 130, 70])
    assert seen == [(1, 3, 224, 320)]  # the image, padded to the stride only
    seen.clear()
    det.predict(np.full((200, 900, 3), 60, np.uint8), tile=512, tile_overlap=0.0)
    assert seen == [(2, 3, 224, 512)]  # two windows 512 wide, as tall as the image


def test_an_object_cut_by_tile_borders_is_merged_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    det = _white_box_detector(monkeypatch, [])
    image = np.full((256, 512, 3), 60, np.uint8)
    image[100:140, 236:276] = 255  # 40 x 40
    # windows start at 0, 192, 256: the first holds the object's left half (236-256), the
    # second all of it, the third its right half (256-276)
    assert tile_starts(512, 256, 0.25) == [0, 192, 256]
    for merge in ("nmm", "nms"):  # IoS 1 with the whole object: the halves join it
        r = det.predict(image, tile=256, tile_overlap=0.25, tile_merge=merge)[0]
        np.testing.assert_allclose(r.boxes, [[236, 100, 276, 140]])
        assert r.scores.tolist() == pytest.approx([0.7])  # the whole object's
    iou = det.predict(image, tile=256, tile_overlap=0.25, tile_match="iou")[0]
    assert len(iou) == 3  # IoU of a half with the whole is 0.5, not above the threshold
    # without overlap the halves only touch: nothing to merge
    apart = det.predict(image, tile=256, tile_overlap=0.0)[0]
    np.testing.assert_allclose(apart.boxes, [[236, 100, 256, 140], [256, 100, 276, 140]])


def test_whole_image_pass_is_added(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, ...]] = []
    det = _white_box_detector(monkeypatch, seen)
    image = np.full((300, 600, 3), 60, np.uint8)
    image[10:290, 20:580] = 255  # larger than any tile
    result = det.predict(image, tile=128, tile_whole=True)[0]
    assert seen[-1] == (1, 3, 128, 256)  # the letterboxed whole image at imgsz 256
    np.testing.assert_allclose(result.boxes[0], [20, 10, 580, 290], atol=2)


def test_merge_rule() -> None:
    boxes = np.array(
        [
            [0, 0, 10, 10],  # 0: best
            [0, 0, 10, 5],  # 1: inside 0 (IoS 1, IoU 0.5)
            [0, 0, 10, 10],  # 2: same box, other class
            [50, 50, 60, 60],  # 3: apart
            [1, 0, 11, 10],  # 4: IoU 0.82 with 0
        ],
        np.float32,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5], np.float32)
    labels = np.array([0, 0, 1, 0, 0])
    assert merge_groups(boxes, scores, labels, metric="ios") == [[0, 1, 4], [2], [3]]
    assert merge_groups(boxes, scores, labels, metric="iou") == [[0, 4], [1], [2], [3]]
    assert merge_groups(boxes, scores, labels, metric="ios", agnostic=True) == [
        [0, 1, 2, 4],
        [3],
    ]
    # a taken detection takes nothing itself: 1 never joins 5 (0 does not reach 5)
    more = np.vstack([boxes, [[0, 4, 10, 12]]]).astype(np.float32)
    groups = merge_groups(
        more, np.r_[scores, 0.4].astype(np.float32), np.r_[labels, 0], metric="ios"
    )
    assert groups[0] == [0, 1, 4, 5]  # IoS(0, 5) = 1
    assert merge_groups(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0)) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 16}, "smaller than the model's stride 32"),
        ({"size": 64, "overlap": 1.0}, "overlap must be in [0, 1)"),
        ({"size": 64, "merge": "wbf"}, "merge must be one of"),
    ],
)
def test_bad_tile_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        TileOptions(**kwargs)


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = save_checkpoint(
        tmp_path / "m.pt", build_model("gelan-t", 2), ["a", "b"], meta={"imgsz": 64}
    )
    image = tmp_path / "x.png"
    import cv2

    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    base = ["predict", "--weights", str(ckpt), "--source", str(image), "--no-save"]
    assert main([*base, "--tile", "16"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: tile size 16 is smaller than the model's stride 32: use --tile 32 or more"
    ]
    assert main([*base, "--tile-overlap", "0.5"]) == 2
    assert "--tile-overlap need --tile SIZE" in capsys.readouterr().err


def test_segmentation_masks_through_tiles(tmp_path: Path) -> None:
    """Masks of tiled detections are placed in the image, inside their (merged) boxes."""
    torch.manual_seed(1)
    model = randomize_(build_model("gelan-t-dseg", 3))  # partial masks, unlike fresh weights
    ckpt = save_checkpoint(tmp_path / "seg.pt", model, ["a", "b", "c"], meta={"imgsz": 128})
    det = Detector.from_pretrained(ckpt, device="cpu")
    image = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    for merge in ("nmm", "nms"):
        r = det.predict(image, conf=0.0, max_det=20, tile=128, tile_merge=merge)[0]
        assert r.masks is not None
        assert len(r.masks) == len(r) >= 2
        assert r.masks.shape == (200, 300)
        bounds = r.masks.bounds
        live = bounds[:, 2] > bounds[:, 0]
        assert live.any()
        assert (bounds[live, :2] >= np.floor(r.boxes[live, :2]) - 1).all()
        assert (bounds[live, 2:] <= np.ceil(r.boxes[live, 2:]) + 1).all()


def test_tiled_validation_scores_every_image(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "d", splits={"train": 2, "val": 3}, size=(160, 224))
    ckpt = save_checkpoint(
        tmp_path / "m.pt", build_model("gelan-t", 4), ["circle", "square", "triangle", "star"]
    )
    import yolov9

    report = yolov9.val(
        data["yolo"], ckpt, imgsz=128, tile=96, out=str(tmp_path / "v"), device="cpu"
    )
    assert report.report["images"] == 3
    assert report.report["tile"]["size"] == 96
    assert 0.0 <= report.metrics.AP <= 1.0


def test_nmm_merges_only_what_still_matches_the_merged_box() -> None:
    """SAHI's rule: group members join by descending score, each only if it still matches the
    box merged so far (the others are dropped)."""
    from yolov9.inference.tiles import _still_matching

    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 14], [0, -6, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    groups = merge_groups(boxes, scores, np.zeros(3), metric="iou")
    assert groups == [[0, 1, 2]]  # IoU with the first: 0.71 and 0.63
    # after [0, 1] merge to (0, 0, 10, 14), box 2's IoU with it is 0.5: not above
    assert _still_matching(groups[0], boxes, "iou", 0.5) == [0, 1]
    assert _still_matching(groups[0], boxes, "iou", 0.4) == [0, 1, 2]
