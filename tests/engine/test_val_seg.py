"""Validation of segmentation models, end to end: box and mask metrics from ``yolov9 val`` and
the API on a generated polygon dataset, perfect segm results files scoring 1, and one-line
refusals (a split without masks)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from faster_coco_eval.core import mask as coco_mask

import yolov9
from tests.data.seg_scenes import NAMES, SIZE, write_seg_dataset
from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.cli import main
from yolov9.data.dataset import load_dataset
from yolov9.engine.validation import ValOptions, validate
from yolov9.errors import ConfigError
from yolov9.inference.backends import TorchBackend
from yolov9.metrics.coco import coco_ground_truth
from yolov9.models import build_model

W, H = SIZE


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated polygon dataset as YOLO segmentation txt (val split, 4 images), with a
    train split (the same images) for the training refusals."""
    root = tmp_path_factory.mktemp("segval")
    forms = write_seg_dataset(root, images=4, seed=1)
    desc = yaml.safe_load(forms["yolo"].read_text())
    (root / "train.yaml").write_text(yaml.safe_dump({**desc, "train": "images"}))
    return forms["yolo"]


@pytest.fixture(scope="module")
def seg_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("segw") / "gelan-t-seg.pt"
    return save_checkpoint(path, build_model("gelan-t-seg", len(NAMES)), NAMES, meta={"imgsz": 64})


def _one_line_error(capsys: pytest.CaptureFixture[str], *words: str) -> None:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    for word in words:
        assert word in last


def test_cli_val_reports_box_and_mask_metrics(
    tmp_path: Path, seg_data: Path, seg_ckpt: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, metrics_json, preds = tmp_path / "run", tmp_path / "m.json", tmp_path / "p.json"
    argv = ["val", "--weights", str(seg_ckpt), "--data", str(seg_data), "--imgsz", "128"]
    argv += ["--batch", "2", "--workers", "0", "--device", "cpu", "--out", str(run)]
    argv += ["--json", str(metrics_json), "--save-predictions", str(preds)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert any(line.startswith("boxes: AP ") for line in lines)
    assert any(line.startswith("masks: AP ") for line in lines)

    report = json.loads((run / "metrics.json").read_text())
    assert report == json.loads(metrics_json.read_text())
    assert report["images"] == 4
    assert report["iou_type"] == "bbox"
    assert report["mask"]["iou_type"] == "segm"
    for key in ("AP", "AP50", "AR100"):
        assert 0.0 <= report[key] <= 1.0
        assert 0.0 <= report["mask"][key] <= 1.0
    assert set(report["mask"]["per_class"]) == set(NAMES)
    assert (run / "val_examples.jpg").is_file()
    assert (run / "pr_curve.png").is_file()

    entries = json.loads(preds.read_text())
    assert entries
    for entry in entries[:50]:
        assert {"image_id", "category_id", "bbox", "score", "segmentation"} <= set(entry)
        seg = entry["segmentation"]
        assert seg["size"] == [H, W]  # original pixels
        mask = coco_mask.decode({"size": seg["size"], "counts": seg["counts"].encode()})
        ys, xs = np.nonzero(mask)
        if len(xs):  # inside its box, rounded outward
            x, y, w, h = entry["bbox"]
            assert xs.min() >= np.floor(x)
            assert xs.max() < np.ceil(x + w)
            assert ys.min() >= np.floor(y)
            assert ys.max() < np.ceil(y + h)


def test_api_val_of_a_seg_detector(tmp_path: Path, seg_data: Path, seg_ckpt: Path) -> None:
    detector = Detector.from_pretrained(seg_ckpt, device="cpu")
    report = detector.val(seg_data, out=str(tmp_path / "run"), workers=0, batch=4, plots=False)
    assert report.mask_metrics is not None
    assert report.mask_metrics.iou_type == "segm"
    assert report.metrics.iou_type == "bbox"
    assert report.report["mask"] == report.mask_metrics.as_dict()
    assert report.result is not None
    assert report.result.mask_metrics is report.mask_metrics
    assert report.report["imgsz"] == 64  # the checkpoint's size
    summary = report.result.summary().splitlines()
    assert summary[1].startswith("boxes: AP ")
    assert summary[2].startswith("masks: AP ")
    assert all("segmentation" in p for p in report.predictions)
    stored = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert stored["mask"]["AP"] == pytest.approx(report.mask_metrics.AP)


def test_seg_model_on_a_split_without_masks_is_refused(
    tmp_path: Path,
    shapes: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from yolov9.data.synthetic import SHAPES

    ckpt = save_checkpoint(tmp_path / "s.pt", build_model("gelan-t-seg", len(SHAPES)), SHAPES)

    def never(*args: object) -> None:
        raise AssertionError("the model ran before the split was checked for masks")

    monkeypatch.setattr(TorchBackend, "infer", never)
    monkeypatch.setattr(TorchBackend, "forward", never)
    opts = ValOptions(imgsz=64, workers=0, device="cpu", out=str(tmp_path / "a"))
    with pytest.raises(ConfigError, match=r"'val' split \(yolo\) has no masks") as exc:
        validate(shapes["yolo"], ckpt, opts=opts)
    assert "\n" not in str(exc.value)
    argv = ["val", "--weights", str(ckpt), "--data", str(shapes["yolo"]), "--imgsz", "64"]
    assert main([*argv, "--workers", "0", "--out", str(tmp_path / "b")]) == 2
    _one_line_error(capsys, "has no masks")


def _perfect_results(data: Path, with_bbox: bool) -> list[dict]:
    """Every ground-truth object as a detection of score 1: its mask as a compressed RLE
    (COCO's rasterisation of the polygon), and its box."""
    gt = coco_ground_truth(load_dataset(data, "val"))
    size = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    out = []
    for a in gt["annotations"]:
        h, w = size[a["image_id"]]
        assert isinstance(a["segmentation"], list)  # polygons from the YOLO txt
        rle = coco_mask.merge(coco_mask.frPyObjects(a["segmentation"], h, w))
        entry = {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "score": 1.0,
            "segmentation": {"size": [h, w], "counts": rle["counts"].decode()},
        }
        if with_bbox:
            entry["bbox"] = a["bbox"]
        out.append(entry)
    assert len(out) >= 4
    return out


@pytest.mark.parametrize("with_bbox", [True, False])
def test_perfect_segm_results_file_scores_one(
    tmp_path: Path, seg_data: Path, capsys: pytest.CaptureFixture[str], with_bbox: bool
) -> None:
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps(_perfect_results(seg_data, with_bbox)))
    out = tmp_path / "metrics.json"
    argv = ["val", "--data", str(seg_data), "--predictions", str(preds)]
    assert main([*argv, "--out", str(tmp_path / "run"), "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["mask"]["iou_type"] == "segm"
    assert report["mask"]["AP"] == pytest.approx(1.0)
    assert report["mask"]["AP50"] == pytest.approx(1.0)
    if with_bbox:
        assert report["iou_type"] == "bbox"
        assert report["AP"] == pytest.approx(1.0)
        assert "masks:" in printed
    else:  # only masks to score: the top-level metrics are the masks'
        assert report["iou_type"] == "segm"
        assert report["AP"] == pytest.approx(1.0)
    assert (tmp_path / "run" / "val_examples.jpg").is_file()

    # the API gives the same
    result = yolov9.val(seg_data, predictions=preds, out=str(tmp_path / "api"))
    assert result.mask_metrics is not None
    assert pytest.approx(1.0) == result.mask_metrics.AP
    assert (result.metrics is result.mask_metrics) is not with_bbox
