"""Training: a short run end to end, exact resume, data problems, fine-tuning, guards."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from yolov9.checkpoints import load_weights, read_torch_file, save_checkpoint
from yolov9.config import resolve
from yolov9.engine import trainer as trainer_module
from yolov9.engine.setup import run_training
from yolov9.engine.trainer import TrainingError
from yolov9.errors import DataError
from yolov9.models import build_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yolov9.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("tiny")
    return write_dataset(root, splits={"train": 8, "val": 4}, size=(96, 96), seed=1)["yolo"]


def _cfg(data: Path, out: Path, **kw: Any):
    values = {
        "model.name": "yolov9-t",
        "data.data": str(data),
        "data.imgsz": 64,
        "data.batch": 4,
        "data.workers": 0,
        "data.val_batch": 4,
        "optim.nominal_batch": 4,
        "optim.warmup_epochs": 0.0,
        "epochs": 2,
        "out": str(out),
        "exist_ok": True,
    }
    values.update(kw)
    return resolve(None, [], **values)


def test_short_run_writes_everything(tiny: Path, tmp_path: Path) -> None:
    result = run_training(_cfg(tiny, tmp_path / "run"))
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "results.csv",
        "results.png",
        "labels.png",
        "label_issues.txt",
        "weights/last.pt",
        "weights/best.pt",
        "weights/best-converted.pt",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").iterdir())
    rows = list(csv.DictReader((run / "results.csv").read_text().splitlines()))
    assert [int(float(r["epoch"])) for r in rows] == [0, 1]
    assert all(
        float(rows[-1][k]) >= 0
        for k in ("train/box", "train/cls", "AP", "val/main/cls", "val/aux/cls")
    )
    best = load_weights(result.best)
    assert best.model.name == "yolov9-t"
    assert best.meta["config"]["epochs"] == 2
    assert load_weights(result.best_converted).model.name == "gelan-t"
    ckpt = read_torch_file(result.last)
    assert ckpt["train"]["ema_updates"] == 4  # 2 epochs x 2 optimiser steps
    ema, raw = ckpt["model"], ckpt["train"]["model"]
    assert any(not torch.equal(ema[k], raw[k]) for k in ema if ema[k].is_floating_point())
    assert yaml.safe_load((run / "config.yaml").read_text())["data"]["imgsz"] == 64


class _Interrupt:
    def __init__(self, after_epoch: int) -> None:
        self.after = after_epoch

    def on_train_start(self, info: dict) -> None:
        pass

    def on_epoch_end(self, record: dict) -> None:
        if record["epoch"] == self.after:
            raise KeyboardInterrupt

    def on_train_end(self, summary: dict) -> None:
        pass


def test_resume_is_exact_and_can_extend(tiny: Path, tmp_path: Path) -> None:
    kw = {"epochs": 3, "augment.close_mosaic": 1}
    full = run_training(_cfg(tiny, tmp_path / "full", **kw))
    with pytest.raises(KeyboardInterrupt):
        run_training(_cfg(tiny, tmp_path / "part", **kw), hooks=[_Interrupt(after_epoch=1)])
    resumed = run_training(resolve(None, [], epochs=3), resume=tmp_path / "part/weights/last.pt")
    a, b = read_torch_file(full.last), read_torch_file(resumed.last)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["train"]["model"]:
        assert torch.equal(a["train"]["model"][key], b["train"]["model"][key]), key
    rows = list(csv.DictReader((tmp_path / "part" / "results.csv").read_text().splitlines()))
    assert [int(float(r["epoch"])) for r in rows] == [0, 1, 2]
    longer = run_training(resolve(None, [], epochs=4), resume=resumed.last)
    assert read_torch_file(longer.last)["train"]["epoch"] == 3


def test_bad_images_are_skipped_and_bad_datasets_refused(tiny: Path, tmp_path: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(tiny.parent, root)
    desc = yaml.safe_load((root / "data.yaml").read_text())
    desc["path"] = str(root)
    (root / "data.yaml").write_text(yaml.safe_dump(desc))
    victim = root / "images" / "train" / "train_00002.png"
    original = victim.read_bytes()

    class Corrupt:  # breaks an image after the labels were read, as a failing disk would
        def on_train_start(self, info: dict) -> None:
            victim.write_bytes(b"\x89PNG broken")

        def on_epoch_end(self, record: dict) -> None:
            pass

        def on_train_end(self, summary: dict) -> None:
            pass

    result = run_training(_cfg(root / "data.yaml", tmp_path / "run", epochs=1), hooks=[Corrupt()])
    assert result.last.is_file()
    victim.write_bytes(original)

    for label in (root / "labels" / "train").glob("*.txt"):
        label.write_text("0 40 40 10 10\n")  # pixel coordinates everywhere
    with pytest.raises(DataError, match="refusing to train"):
        run_training(_cfg(root / "data.yaml", tmp_path / "run2", epochs=1))


def test_fine_tune_from_other_class_count_and_single_head(tiny: Path, tmp_path: Path) -> None:
    source = save_checkpoint(
        tmp_path / "coco.pt", build_model("gelan-t", num_classes=80), [str(i) for i in range(80)]
    )
    result = run_training(
        _cfg(
            tiny,
            tmp_path / "ft",
            epochs=1,
            **{"model.name": "gelan-t", "model.weights": str(source)},
        )
    )
    loaded = load_weights(result.last)
    assert loaded.model.name == "gelan-t"
    assert loaded.model.num_classes == 4
    assert result.best_converted is None  # nothing to remove


def test_deep_supervision_ablation_trains(tiny: Path, tmp_path: Path) -> None:
    result = run_training(
        _cfg(tiny, tmp_path / "ds", epochs=1, **{"model.aux": "deep-supervision"})
    )
    loaded = load_weights(result.last)
    assert loaded.model.aux_mode == "deep-supervision"
    assert load_weights(result.best_converted).model.name == "gelan-t"


def test_diverging_loss_stops_with_a_clear_error(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = trainer_module.YOLOv9Loss.forward

    def nan_loss(self, outputs, targets):
        out = real(self, outputs, targets)
        return out._replace(total=out.total * float("nan"))

    monkeypatch.setattr(trainer_module.YOLOv9Loss, "forward", nan_loss)
    cfg = _cfg(tiny, tmp_path / "nan", epochs=20, **{"data.batch": 1, "optim.nominal_batch": 1})
    with pytest.raises(TrainingError, match="diverged"):
        run_training(cfg)


def test_early_stopping_counts_across_resume(tiny: Path, tmp_path: Path) -> None:
    """Epochs without a better AP are saved with the run: a resumed run stops when the total
    reaches the patience, not when the resumed part alone does."""
    first = run_training(_cfg(tiny, tmp_path / "run", epochs=1))
    ckpt = read_torch_file(first.last)
    assert ckpt["train"]["stale_epochs"] == 0  # the first validated epoch is the best so far
    ckpt["train"]["best_fitness"] = 2.0  # an AP no epoch can beat
    ckpt["train"]["stale_epochs"] = 4
    torch.save(ckpt, first.last)
    resumed = run_training(resolve(None, [], epochs=4, patience=5), resume=first.last)
    last = read_torch_file(resumed.last)["train"]
    assert (last["epoch"], last["stale_epochs"]) == (1, 5)  # one more epoch, then stop
