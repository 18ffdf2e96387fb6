"""Training the all-task network on the generated world with captions: the authors' two steps
(the default) and one step (plain samples with every label) both train, validate every task in one
record and pick the best epoch by their mean; the run resumes exactly; `yolov9 val` reports
every figure in one report and `yolov9 predict` writes every output; a split whose captions
miss an image, and a panoptic model on the same data, behave as documented."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.engine.test_trainer import _cfg as trainer_cfg
from tests.engine.test_trainer import _Interrupt
from yolov9.checkpoints import load_weights, read_torch_file
from yolov9.cli import main
from yolov9.config import TrainConfig
from yolov9.data.synthetic_world import STUFF, THINGS, write_world
from yolov9.engine.all_validator import all_tasks_fitness
from yolov9.engine.trainer import TrainResult
from yolov9.engine.training import resume, train
from yolov9.errors import DataError

TERMS = ("box", "seg", "cls", "dfl", "focal", "dice")
FIGURES = ("PQ", "mIoU", "AP", "mask/AP", "BLEU-4", "CIDEr-D", "all-tasks")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 training and 2 validation scenes (64 x 64) with panoptic labels and captions."""
    root = tmp_path_factory.mktemp("all-train")
    return write_world(root, {"train": 4, "val": 2}, (64, 64), seed=3, captions=True)["all"]


def _cfg(data: Path, out: Path, **kw: Any) -> TrainConfig:
    return trainer_cfg(data, out, **{"model.name": "yolov9-t-all", "augment.close_mosaic": 1, **kw})


@pytest.fixture(scope="module")
def full(world: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    """A two-epoch run on the defaults (the authors' language step: the data has boxes)."""
    return train(_cfg(world, tmp_path_factory.mktemp("all-run") / "full"))


def test_the_default_schedule_validates_every_task_and_resumes_exactly(
    world: Path, full: TrainResult, tmp_path: Path
) -> None:
    assert full.fitness == "all-tasks"
    for record in full.history:
        assert set(FIGURES) <= set(record)
        assert record["all-tasks"] == pytest.approx(all_tasks_fitness(record))
        for head in ("main", "aux"):
            for term in TERMS:
                assert record[f"train/{head}/{term}"] > 0
                assert record[f"val/{head}/{term}"] > 0
        assert record["train/main/caption"] > 0
        assert record["val/main/caption"] > 0
    assert full.best_converted is not None
    converted = load_weights(full.best_converted)
    assert converted.model.aux is None
    assert converted.model.task == "all"
    assert converted.model.name == "gelan-t-all"
    assert converted.names == list(THINGS)
    assert converted.stuff_names == list(STUFF)
    assert converted.model.caption is not None
    assert converted.model.caption.vocabulary()

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(world, tmp_path / "part"), hooks=[_Interrupt(after_epoch=0)])
    resumed = resume(tmp_path / "part/weights/last.pt")
    a, b = read_torch_file(full.last), read_torch_file(resumed.last)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


@pytest.mark.slow
def test_one_step_trains_the_all_task_network(world: Path, tmp_path: Path) -> None:
    """One step on plain images with every label: each term learns in one backward pass."""
    run = train(_cfg(world, tmp_path / "one", **{"optim.language_step": "off", "epochs": 1}))
    record = run.history[-1]
    for term in (*TERMS, "caption"):
        assert record[f"train/main/{term}"] > 0, term
    assert set(FIGURES) <= set(record)


def test_val_reports_every_task_and_predict_writes_every_output(
    world: Path, full: TrainResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = str(full.best_converted or full.last)
    report = tmp_path / "metrics.json"
    code = main(
        [
            "val",
            "--weights",
            weights,
            "--data",
            str(world),
            "--imgsz",
            "64",
            "--json",
            str(report),
            "--save-predictions",
            str(tmp_path / "captions.json"),
            "--out",
            str(tmp_path / "v"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "PQ" in printed
    assert "2 images captioned: BLEU-1" in printed
    figures = json.loads(report.read_text())
    assert {"panoptic", "semantic", "caption"} <= set(figures)
    # the model's captions, saved as a results file, score the same on the all-task data
    again = tmp_path / "again.json"
    argv = ["val", "--predictions", str(tmp_path / "captions.json"), "--data", str(world)]
    assert main([*argv, "--json", str(again), "--out", str(tmp_path / "v2")]) == 0
    assert json.loads(again.read_text())["caption"] == figures["caption"]
    assert set(figures["caption"]) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D"}

    image = world.parent / "images" / "val" / "val_00000.png"
    records = tmp_path / "records.json"
    pan = tmp_path / "pan"
    code = main(
        [
            "predict",
            "--weights",
            weights,
            "--source",
            str(image),
            "--imgsz",
            "64",
            "--save-json",
            str(records),
            "--save-panoptic",
            str(pan),
            "--out",
            str(tmp_path / "p"),
        ]
    )
    assert code == 0
    written = json.loads(records.read_text())
    assert "caption" in written[-1]
    assert (pan / "val_00000.png").is_file()
    assert json.loads((tmp_path / "pan.json").read_text())["annotations"]


def test_captions_must_cover_every_image_of_the_split(world: Path, tmp_path: Path) -> None:
    doc = json.loads((world.parent / "captions_train.json").read_text())
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] != 2]
    doc["images"] = [i for i in doc["images"] if i["id"] != 2]
    partial = world.parent / "captions_partial.json"
    partial.write_text(json.dumps(doc))
    data = tmp_path / "partial.yaml"
    text = world.read_text().replace("captions_train.json", str(partial))
    data.write_text(text)
    with pytest.raises(DataError, match=r"no captions for 1 of the 4 images .*train_00001"):
        train(_cfg(data, tmp_path / "run"))


@pytest.mark.slow
def test_a_panoptic_model_trains_on_the_all_task_data(world: Path, tmp_path: Path) -> None:
    """The captions are another task's labels: a panoptic model learns the panoptic ones."""
    run = train(_cfg(world, tmp_path / "pan", epochs=1, **{"model.name": "yolov9-t-pan"}))
    assert run.fitness == "PQ"


@pytest.mark.slow
def test_semantic_label_maps_with_captions_train_the_all_task_network(
    world: Path, tmp_path: Path
) -> None:
    """Label maps have no things: the semantic terms and the caption term train, the
    fitness is the mean of mIoU, BLEU-4 and CIDEr-D / 10."""
    root = world.parent
    splits = {
        s: {"images": f"images/{s}", "semantic": f"semantic/{s}", "captions": f"captions_{s}.json"}
        for s in ("train", "val")
    }
    data = tmp_path / "maps.yaml"
    data.write_text(
        json.dumps({"path": str(root), "names": [*THINGS, *STUFF], "ignore": 255, **splits})
    )
    run = train(_cfg(data, tmp_path / "maps", epochs=1))
    record = run.history[-1]
    assert record["train/main/focal"] > 0
    assert record["train/main/caption"] > 0
    assert "PQ" not in record
    assert record["all-tasks"] == pytest.approx(
        (record["mIoU"] + record["BLEU-4"] + record["CIDEr-D"] / 10) / 3
    )
