"""Training panoptic models on each format: a short PGI run validates PQ, mIoU, box and mask
AP and both heads' six losses, picks the best epoch by PQ (mIoU on label maps), records the
stuff names, converts, resumes exactly, trains with --recompute; instance data is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.engine.test_trainer import _cfg as trainer_cfg
from tests.engine.test_trainer import _Interrupt
from yolov9.checkpoints import load_weights, read_torch_file
from yolov9.cli import main
from yolov9.config import TrainConfig
from yolov9.data.synthetic_world import NAMES, STUFF, THINGS, write_world
from yolov9.engine.training import resume, train

TERMS = ("box", "seg", "cls", "dfl", "focal", "dice")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """4 training and 2 validation scenes (96 x 128) in the three formats."""
    root = tmp_path_factory.mktemp("pan-train")
    return write_world(root, {"train": 4, "val": 2}, (96, 128), seed=3)


def _cfg(data: Path, out: Path, **kw: Any) -> TrainConfig:
    """The detection trainer tests' short run, with yolov9-t-pan and mosaic closed after one
    epoch."""
    return trainer_cfg(data, out, **{"model.name": "yolov9-t-pan", "augment.close_mosaic": 1, **kw})


def test_pan_run_validates_pq_and_resumes_exactly(world: dict[str, Path], tmp_path: Path) -> None:
    data = world["coco-panoptic"]
    full = train(_cfg(data, tmp_path / "full"))
    assert full.fitness == "PQ"
    for record in full.history:
        assert {"PQ", "SQ", "RQ", "PQ_th", "PQ_st", "mIoU", "AP", "mask/AP"} <= set(record)
        for head in ("main", "aux"):
            for term in TERMS:
                assert record[f"train/{head}/{term}"] > 0
                assert record[f"val/{head}/{term}"] > 0
    best = max(full.history, key=lambda r: r["PQ"])
    assert full.best_metrics["PQ"] == best["PQ"]
    assert full.best_converted is not None
    converted = load_weights(full.best_converted)
    assert converted.model.aux is None
    assert converted.model.task == "panoptic"
    assert converted.names == list(THINGS)
    assert converted.stuff_names == list(STUFF)

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(data, tmp_path / "part"), hooks=[_Interrupt(after_epoch=0)])
    resumed = resume(tmp_path / "part/weights/last.pt")
    a, b = read_torch_file(full.last), read_torch_file(resumed.last)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


@pytest.mark.parametrize("kind", ["authors", "semantic"])
def test_pan_trains_on_the_other_formats(world: dict[str, Path], tmp_path: Path, kind: str) -> None:
    result = train(_cfg(world[kind], tmp_path / kind, epochs=1, **{"model.recompute": "all"}))
    record = result.history[-1]
    assert record["train/main/focal"] > 0
    assert record["val/aux/dice"] > 0
    loaded = load_weights(result.last)
    if kind == "semantic":  # label maps: every class a semantic channel, no PQ, no AP
        assert result.fitness == "mIoU"
        assert "mIoU" in record
        assert "PQ" not in record
        assert "AP" not in record
        assert loaded.names == list(NAMES)
        assert loaded.model.head_kind.stuff_classes == 0
    else:
        assert result.fitness == "PQ"
        assert {"PQ", "mIoU", "mask/AP"} <= set(record)
        assert loaded.stuff_names == list(STUFF)


def test_a_pan_model_on_instance_data_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from yolov9.data.synthetic import write_dataset

    splits = {"train": 2, "val": 2}
    data = write_dataset(tmp_path / "d", splits=splits, size=(64, 64), masks=True)["yolo"]
    argv = ["train", "--model", "yolov9-t-pan", "--data", str(data), "--epochs", "1"]
    assert main([*argv, "--imgsz", "64", "--out", str(tmp_path / "r")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert "instance labels only" in last
    assert not (tmp_path / "r").exists()


def test_an_instance_model_on_label_maps_is_refused_in_one_line(
    world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--model", "gelan-t", "--data", str(world["semantic"]), "--epochs", "1"]
    assert main([*argv, "--imgsz", "64", "--out", str(tmp_path / "r")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert "semantic label maps only" in last
