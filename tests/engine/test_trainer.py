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
from yolov9.config import TrainConfig, resolve
from yolov9.engine import trainer as trainer_module
from yolov9.engine.trainer import TrainingError
from yolov9.engine.training import resume, train
from yolov9.errors import ConfigError, DataError
from yolov9.models import build_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yolov9.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("tiny")
    return write_dataset(root, splits={"train": 8, "val": 4}, size=(96, 96), seed=1)["yolo"]


def _cfg(data: Path, out: Path, **kw: Any) -> TrainConfig:
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


def _rows(run: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run / "results.csv").read_text().splitlines()))


def test_short_run_writes_everything(tiny: Path, tmp_path: Path) -> None:
    result = train(_cfg(tiny, tmp_path / "run"))
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
    rows = _rows(run)
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


def test_train_and_val_losses_are_logged_per_head_on_one_scale(tiny: Path, tmp_path: Path) -> None:
    """Bug: train/* was gain-weighted main + 0.25 aux while val/* was per head, unweighted,
    and the plot put them side by side. Now both are logged per head, unweighted."""
    train(_cfg(tiny, tmp_path / "run", epochs=1))
    row = _rows(tmp_path / "run")[0]
    for head in ("main", "aux"):
        for term in ("box", "cls", "dfl"):
            assert float(row[f"train/{head}/{term}"]) >= 0
            assert float(row[f"val/{head}/{term}"]) >= 0
    # the reference's logged terms stay: gain-weighted, auxiliary included
    weighted = 0.5 * (float(row["train/main/cls"]) + 0.25 * float(row["train/aux/cls"]))
    assert float(row["train/cls"]) == pytest.approx(weighted, rel=1e-4)


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
    full = train(_cfg(tiny, tmp_path / "full", **kw))
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tiny, tmp_path / "part", **kw), hooks=[_Interrupt(after_epoch=1)])
    resumed = resume(tmp_path / "part/weights/last.pt")
    a, b = read_torch_file(full.last), read_torch_file(resumed.last)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for key in a["train"]["model"]:
        assert torch.equal(a["train"]["model"][key], b["train"]["model"][key]), key
    assert [int(float(r["epoch"])) for r in _rows(tmp_path / "part")] == [0, 1, 2]
    assert [r["epoch"] for r in resumed.history] == [0, 1, 2]  # the whole run, not the tail
    longer = resume(resumed.last, {"epochs": 4})
    assert read_torch_file(longer.last)["train"]["epoch"] == 3
    with pytest.raises(ConfigError, match="has done 4 of 4 epochs"):
        resume(longer.last)
    for values, message in (
        ({"model": "yolov9-s"}, r"model\.name cannot change"),
        ({"optimizer": "sgd"}, r"optim\.optimizer cannot change"),
        ({"out": str(tmp_path / "elsewhere")}, "out cannot change"),
    ):
        with pytest.raises(ConfigError, match=message):
            resume(longer.last, {"epochs": 5, **values})
    with pytest.raises(ConfigError, match="unknown config key 'batch'"):  # as on a fresh run
        resume(longer.last, {"epochs": 5}, overrides=["batch=8"])


@pytest.mark.slow  # ~13 s: two runs and a resume
def test_resume_applies_every_given_value_and_reports_the_whole_run(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bugs: on resume only --epochs was applied, and the best epoch and metrics reported
    covered only the resumed epochs."""
    from yolov9.cli import main

    first = train(_cfg(tiny, tmp_path / "run", epochs=1))
    ckpt = read_torch_file(first.last)
    ckpt["train"]["history"][0]["AP"] = 2.0  # an AP no later epoch can beat
    ckpt["train"]["best_fitness"] = 2.0
    torch.save(ckpt, first.last)
    argv = ["train", "--resume", str(first.last), "--epochs", "3", "--patience", "7"]
    assert (
        main([*argv, "--workers", "0", "--set", "optim.lrf=0.5", "--set", "optim.lr0=0.004"]) == 0
    )
    last = load_weights(first.last)
    config = last.meta["config"]
    assert (config["epochs"], config["patience"], config["data"]["workers"]) == (3, 7, 0)
    assert (config["optim"]["lrf"], config["optim"]["lr0"]) == (0.5, 0.004)
    assert {"patience", "optim.lrf", "optim.lr0"} <= set(config["explicit"])
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["patience"] == 7
    state = read_torch_file(first.last)["train"]
    assert [r["epoch"] for r in state["history"]] == [0, 1, 2]
    assert state["best_epoch"] == 0
    assert "best: AP 2.0000, AP50 0.0000 (best by AP; epoch 1 of 3 run)" in capsys.readouterr().err
    # the optimiser runs with the new values, not the saved ones
    assert {g["initial_lr"] for g in state["optimizer"]["param_groups"]} == {0.004}
    # a dataset with other classes cannot continue the run
    other = tmp_path / "other.yaml"
    desc = yaml.safe_load(tiny.read_text())
    desc["path"] = str(tiny.parent)
    desc["names"] = ["w", "x", "y", "z"]
    other.write_text(yaml.safe_dump(desc))
    with pytest.raises(ConfigError, match="the run to resume"):
        resume(first.last, {"epochs": 4, "data": str(other)})


@pytest.mark.slow  # ~9 s
def test_epochs_without_validation_do_not_count_against_patience(
    tiny: Path, tmp_path: Path
) -> None:
    """Bug: with patience < val_every the run stopped before it was ever validated."""
    result = train(_cfg(tiny, tmp_path / "run", epochs=4, patience=1, val_every=2))
    validated = [int(r["epoch"]) for r in result.history if "AP" in r]
    assert validated[:1] == [1]  # it reached its first validation
    assert len(result.history) >= 2


def test_patience_zero_never_stops_and_bad_values_are_refused(tiny: Path, tmp_path: Path) -> None:
    """Bug: patience=0 stopped after one epoch; val_every=0 crashed after a full epoch."""
    result = train(_cfg(tiny, tmp_path / "run", epochs=3, patience=0))
    assert len(result.history) == 3
    for key, value, message in (
        ("val_every", 0, "val_every must be >= 1"),
        ("patience", -1, "patience must be >= 0"),
        ("optim.warmup_epochs", -1, "optim.warmup_epochs"),
        ("augment.scale", 1.5, "augment.scale"),
    ):
        with pytest.raises(ConfigError, match=message):
            _cfg(tiny, tmp_path / "x", **{key: value})


def test_tensorboard_records_the_config(tiny: Path, tmp_path: Path) -> None:
    """Bug: the config text in TensorBoard was always empty."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(_cfg(tiny, tmp_path / "run", epochs=1, seed=7))
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard"), {"tensors": 0})
    events.Reload()
    (tag,) = [t for t in events.Tags()["tensors"] if t.startswith("config")]
    text = events.Tensors(tag)[0].tensor_proto.string_val[0].decode()
    assert "seed: 7" in text
    assert "epochs: 1" in text


def test_results_plot_draws_curves_when_not_validating_every_epoch(
    tiny: Path, tmp_path: Path
) -> None:
    """Bug: epochs without validation wrote empty cells, NaN points broke every line and the
    AP and validation-loss panels showed nothing (the demo's own plot was empty)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from yolov9.utils.plots import results_figure

    train(_cfg(tiny, tmp_path / "run", epochs=4, val_every=2))
    rows = _rows(tmp_path / "run")
    assert [r["AP"] != "" for r in rows] == [False, True, False, True]
    fig = results_figure(rows)
    box, _, _, ap = fig.axes
    for ax, label, expected in ((ap, "AP", 2), (box, "val main", 2), (box, "train main", 4)):
        (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
        xs, ys = line.get_xdata(), line.get_ydata()
        assert len(xs) == expected, label
        assert np.isfinite(ys).all(), label  # one unbroken line
    # and the lines are really drawn: their colours cross most of the AP panel's width (the
    # AP, AP50 and AP75 lines may lie on top of each other, so any of them counts)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    x0, y0, x1, y1 = (round(v) for v in ap.get_window_extent().extents)
    panel = pixels[pixels.shape[0] - y1 : pixels.shape[0] - y0, x0:x1]
    drawn = np.zeros(panel.shape[1], bool)
    for line in ap.get_lines():
        rgb = np.array(plt.matplotlib.colors.to_rgb(line.get_color())) * 255
        drawn |= (np.abs(panel - rgb).sum(-1) < 60).any(0)
    assert drawn.sum() > 0.5 * (x1 - x0)
    plt.close(fig)


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

    result = train(_cfg(root / "data.yaml", tmp_path / "run", epochs=1), hooks=[Corrupt()])
    assert result.last.is_file()
    victim.write_bytes(original)

    for label in (root / "labels" / "train").glob("*.txt"):
        label.write_text("0 40 40 10 10\n")  # pixel coordinates everywhere
    with pytest.raises(DataError, match="refusing to train"):
        train(_cfg(root / "data.yaml", tmp_path / "run2", epochs=1))


def test_fine_tune_from_other_class_count_and_single_head(tiny: Path, tmp_path: Path) -> None:
    source = save_checkpoint(
        tmp_path / "coco.pt", build_model("gelan-t", num_classes=80), [str(i) for i in range(80)]
    )
    result = train(
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
    result = train(_cfg(tiny, tmp_path / "ds", epochs=1, **{"model.aux": "deep-supervision"}))
    loaded = load_weights(result.last)
    assert loaded.model.aux_mode == "deep-supervision"
    assert load_weights(result.best_converted).model.name == "gelan-t"


def test_diverging_loss_stops_with_a_clear_error(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = trainer_module.Trainer._forward_backward

    def nan_loss(self, batch):
        real_criterion = self.p.criterion

        def poisoned(outputs, targets):
            out = real_criterion(outputs, targets)
            return out._replace(total=out.total * float("nan"))

        self.p.criterion = poisoned
        try:
            return real(self, batch)
        finally:
            self.p.criterion = real_criterion

    monkeypatch.setattr(trainer_module.Trainer, "_forward_backward", nan_loss)
    cfg = _cfg(tiny, tmp_path / "nan", epochs=20, **{"data.batch": 1, "optim.nominal_batch": 1})
    with pytest.raises(TrainingError, match="diverged"):
        train(cfg)


@pytest.mark.slow  # ~12 s: a run and its resume
def test_early_stopping_counts_across_resume(tiny: Path, tmp_path: Path) -> None:
    """Epochs since the best AP are saved with the run: a resumed run stops when the total
    reaches the patience, not when the resumed part alone does."""
    first = train(_cfg(tiny, tmp_path / "run", epochs=1))
    ckpt = read_torch_file(first.last)
    assert ckpt["train"]["best_epoch"] == 0  # the first validated epoch is the best so far
    ckpt["train"]["best_fitness"] = 2.0  # an AP no epoch can beat, reached 4 epochs earlier
    ckpt["train"]["best_epoch"] = -4
    torch.save(ckpt, first.last)
    resumed = resume(first.last, {"epochs": 4, "patience": 5})
    last = read_torch_file(resumed.last)["train"]
    assert last["epoch"] == 1  # one more epoch, then stop: 5 epochs since the best
