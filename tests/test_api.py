"""The Python API has the power of the CLI: train, val, export and predict, through the same
functions the commands call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import yolov9
from yolov9.errors import ConfigError


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yolov9.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("api")
    return write_dataset(root, splits={"train": 8, "val": 4}, size=(96, 96), seed=3)["yolo"]


SMALL = {"imgsz": 64, "batch": 4, "workers": 0, "optim.warmup_epochs": 0.0}


def test_train_val_and_fine_tune(data: Path, tmp_path: Path) -> None:
    result = yolov9.train(
        model="yolov9-t", data=str(data), epochs=1, out=str(tmp_path / "run"), **SMALL
    )
    assert result.best_converted is not None
    detector = yolov9.Detector.from_pretrained(result.best, device="cpu")
    assert detector.weights == result.best

    report = detector.val(data, out=str(tmp_path / "val"), workers=0)
    assert 0 <= report.metrics.AP <= 1
    assert (tmp_path / "val" / "metrics.json").is_file()
    by_function = yolov9.val(data, result.best, out=str(tmp_path / "val2"), workers=0, imgsz=64)
    assert pytest.approx(report.metrics.AP) == by_function.metrics.AP

    before = detector.backend.model.head.cls[0][-1].bias.detach().clone()
    tuned = detector.train(data=str(data), epochs=1, out=str(tmp_path / "tuned"), **SMALL)
    assert tuned.best_metrics["epoch"] == 0
    assert load_model_name(tuned.last) == "yolov9-t"  # the checkpoint's own network, with PGI
    assert detector.weights == tuned.best  # with its PGI branch: a later train keeps it
    assert detector.backend.source_name == "yolov9-t"
    assert not detector.backend.model.head.cls[0][-1].bias.equal(before)


def load_model_name(path: Path) -> str:
    from yolov9.checkpoints import load_weights

    return load_weights(path).model.name


def test_unknown_options_are_named(data: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        yolov9.val(data, "missing.pt", threshold=0.5)
    with pytest.raises(ConfigError, match=r"unknown config key 'optim\.lr'"):
        yolov9.train(model="yolov9-t", data=str(data), **{"optim.lr": 0.1})


@pytest.mark.slow
def test_export_from_a_file_or_from_memory(tmp_path: Path) -> None:
    from yolov9.checkpoints import save_checkpoint
    from yolov9.models import build_model

    detector = yolov9.Detector(build_model("gelan-t", 2), ["a", "b"], imgsz=64, device="cpu")
    with pytest.raises(ConfigError, match="give out="):
        detector.export(format="torchscript", imgsz=64)
    report = detector.export(tmp_path / "m", format="torchscript", imgsz=64)
    assert report.path == tmp_path / "m.torchscript"
    assert report.max_diff["scores"] < 1e-5
    scripted = yolov9.Detector.from_pretrained(report.path)
    assert len(scripted.predict(np.zeros((50, 60, 3), np.uint8), conf=0.0)[0]) > 0
    weights = save_checkpoint(tmp_path / "w.pt", build_model("gelan-t", 2), ["a", "b"])
    by_function = yolov9.export(weights, format="torchscript", imgsz=64)
    assert by_function.path == tmp_path / "w.torchscript"  # next to the weights by default
