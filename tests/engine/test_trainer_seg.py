"""Training segmentation models: a short PGI run validates box and mask AP and both heads'
four losses (never 0), picks the best epoch by mask AP, converts it, resumes exactly; a
detection checkpoint starts a seg model; data without masks is refused in one line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from tests.data.seg_scenes import NAMES, write_seg_dataset
from tests.engine.test_trainer import _Interrupt, _rows
from yolov9.checkpoints import load_weights, read_torch_file, save_checkpoint
from yolov9.cli import main
from yolov9.config import TrainConfig, resolve
from yolov9.engine.training import resume, train
from yolov9.models import build_model


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 generated polygon images (256 x 128) as train and val."""
    root = tmp_path_factory.mktemp("segtrain")
    desc = yaml.safe_load(write_seg_dataset(root, images=4, seed=2)["yolo"].read_text())
    path = root / "train.yaml"
    path.write_text(yaml.safe_dump({**desc, "train": desc["val"]}))
    return path


def _cfg(data: Path, out: Path, **kw: Any) -> TrainConfig:
    values = {
        "model.name": "yolov9-t-seg",
        "data.data": str(data),
        "data.imgsz": 64,
        "data.batch": 4,
        "data.workers": 0,
        "data.val_batch": 8,
        "optim.nominal_batch": 4,
        "optim.warmup_epochs": 0.0,
        "augment.close_mosaic": 1,
        "epochs": 2,
        "out": str(out),
        "exist_ok": True,
    }
    values.update(kw)
    return resolve(None, [], **values)


def test_seg_run_validates_masks_and_resumes_exactly(seg_data: Path, tmp_path: Path) -> None:
    full = train(_cfg(seg_data, tmp_path / "full"))
    for record in full.history:
        assert {"AP", "mask/AP", "mask/AP50"} <= set(record)
        for head in ("main", "aux"):
            for term in ("box", "seg", "cls", "dfl"):
                assert record[f"train/{head}/{term}"] > 0
                assert record[f"val/{head}/{term}"] > 0  # never 0 for the dual model (#417)
    best = max(full.history, key=lambda r: r["mask/AP"])
    assert full.best_metrics["mask/AP"] == best["mask/AP"]  # best by mask AP
    assert full.best_converted is not None
    converted = load_weights(full.best_converted)
    assert converted.model.aux is None
    assert converted.model.task == "segment"
    assert "mask/AP" in _rows(tmp_path / "full")[0]
    assert (tmp_path / "full" / "results.png").is_file()

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(seg_data, tmp_path / "part"), hooks=[_Interrupt(after_epoch=0)])
    resumed = resume(tmp_path / "part/weights/last.pt")
    a, b = read_torch_file(full.last), read_torch_file(resumed.last)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert [int(r["epoch"]) for r in resumed.history] == [0, 1]


def test_seg_model_starts_from_a_detection_checkpoint(
    seg_data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torch.manual_seed(0)
    det = save_checkpoint(tmp_path / "det.pt", build_model("yolov9-t", len(NAMES)), NAMES)
    caplog.set_level(logging.INFO, logger="yolov9.engine.build")
    result = train(_cfg(seg_data, tmp_path / "ft", epochs=1, **{"model.weights": str(det)}))
    text = caplog.text
    assert "1772/2144 tensors transferred" in text
    for part in ("head.proto", "head.coef", "aux.head.proto", "aux.head.coef"):
        assert part in text.split("newly initialised")[1]
    assert "mask/AP" in result.history[-1]


def test_seg_training_without_masks_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from yolov9.data.synthetic import write_dataset

    boxes_only = write_dataset(tmp_path / "d", splits={"train": 2, "val": 2}, size=(64, 64))
    argv = ["train", "--model", "gelan-t-seg", "--data", str(boxes_only["yolo"])]
    assert main([*argv, "--epochs", "1", "--imgsz", "64", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert "no instance mask" in last
    assert "polygon" in last
    assert not (tmp_path / "r").exists()  # refused before a run folder is made
