"""The command line: every subcommand, JSON output, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolov9.checkpoints import load_weights, save_checkpoint
from yolov9.cli import main
from yolov9.data.synthetic import make_scene
from yolov9.models import build_model

COMMANDS = ["train", "predict", "val", "export", "benchmark", "info", "convert", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: yolov9" in capsys.readouterr().out


def test_every_command_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    import yolov9.cli

    with pytest.raises(SystemExit):
        main(["--help"])
    listed = capsys.readouterr().out
    for command in COMMANDS:
        assert command in listed
        assert command in (yolov9.cli.__doc__ or "")


@pytest.mark.parametrize(
    "argv", [["--help"], ["train", "--help"], ["export", "--format", "nope"], ["val"]]
)
def test_help_and_argument_errors_do_not_import_torch(argv: list[str]) -> None:
    """They were slow (2.3 s) because importing the package imported torch."""
    code = (
        "import sys\n"
        "from yolov9.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_programming_errors_keep_their_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only our own error types become one-line messages: a ValueError from a bug used to be
    shown as a user error, with exit code 2 and no traceback."""
    import argparse

    from yolov9.cli import model_tools
    from yolov9.errors import ConfigError

    def broken(args: argparse.Namespace) -> int:
        raise ValueError("a bug")

    def refused(args: argparse.Namespace) -> int:
        raise ConfigError("a user error")

    monkeypatch.setattr(model_tools, "info", broken)
    with pytest.raises(ValueError, match="a bug"):
        main(["info", "yolov9-t"])
    monkeypatch.setattr(model_tools, "info", refused)
    assert main(["info", "yolov9-t"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: a user error"
    assert main(["-v", "info", "yolov9-t"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert err.strip().endswith("error: a user error")


def test_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "yolov9", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("yolov9 ")


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "yolov9-c", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"] == 51_182_080
    assert info["params_fused"] == 50_880_768
    assert info["params_deploy"] == 25_498_752
    assert info["gflops"] == pytest.approx(237.64, abs=0.1)
    assert set(info["parts"]) == {"backbone", "neck", "head", "aux"}
    assert sum(info["parts"].values()) == info["params"]


def test_info_table_of_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = save_checkpoint(tmp_path / "w.pt", build_model("yolov9-s", num_classes=3), list("abc"))
    assert main(["info", str(path), "--imgsz", "320"]) == 0
    out = capsys.readouterr().out
    assert "yolov9-s: 3 classes, 320x320 input" in out
    assert "training only" in out


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return save_checkpoint(
        tmp_path / "yolov9-t.pt",
        build_model("yolov9-t", num_classes=2),
        ["cat", "dog"],
        meta={"imgsz": 128},
    )


def test_convert_then_predict(tmp_path: Path, checkpoint: Path) -> None:
    out = tmp_path / "gelan.safetensors"
    assert main(["convert", str(checkpoint), str(out)]) == 0
    assert load_weights(out).model.name == "gelan-t"

    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        cv2.imwrite(str(images / f"s{i}.jpg"), make_scene(rng, (100, 150))[0])
    preds = tmp_path / "preds.json"
    run = str(tmp_path / "run")
    rc = main(
        [
            "predict",
            "--weights",
            str(out),
            "--source",
            str(images),
            "--conf",
            "0.0",
            "--max-det",
            "5",
            "--out",
            run,
            "--save-json",
            str(preds),
        ]
    )
    assert rc == 0
    records = json.loads(preds.read_text())
    assert len(records) == 10
    assert set(records[0]) == {"file", "frame", "box", "score", "class_id", "class_name"}
    assert {r["class_name"] for r in records} <= {"cat", "dog"}
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["s0.jpg", "s1.jpg"]
    for r in records:
        x1, y1, x2, y2 = r["box"]
        assert 0 <= x1 <= x2 <= 150
        assert 0 <= y1 <= y2 <= 100


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["info", "yolov9-q"], "unknown model"),
        (["predict", "--weights", "{ckpt}", "--source", "nowhere/x.jpg"], "source not found"),
        (["predict", "--weights", "missing.pt", "--source", "."], "weights file not found"),
        (["predict", "--weights", "{bad}", "--source", "."], "not a torch checkpoint"),
        (["predict", "--weights", "{ckpt}", "--source", "{corrupt}"], "cannot decode image"),
        (["predict", "--weights", "{ckpt}", "--source", ".", "--device", "cuda:7"], "device"),
    ],
)
def test_errors_are_one_line(
    tmp_path: Path,
    checkpoint: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff broken")
    subst = {
        "{ckpt}": str(checkpoint),
        "{bad}": str(tmp_path / "bad.pt"),
        "{corrupt}": str(tmp_path / "corrupt.jpg"),
    }
    rc = main([subst.get(a, a) for a in argv] + (["--no-save"] if argv[0] == "predict" else []))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("error: ")
    assert message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_demo_runs_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a relative --out, as `make demo` gives it
    assert main(["demo", "--out", "runs/demo", "--epochs", "2", "--imgsz", "64"]) == 0
    out = tmp_path / "runs" / "demo"
    assert (out / "new_scene_pred.jpg").is_file()
    # the demo trains gelan-t (no PGI branch at its budget), so there is nothing to convert
    assert not (out / "train" / "weights" / "best-converted.pt").exists()
    best = load_weights(out / "train" / "weights" / "best.pt")
    assert best.model.name == "gelan-t"
    assert best.names == ["circle", "square", "triangle", "star"]


def test_panoptic_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "pan-demo"
    argv = ["demo", "--task", "panoptic", "--out", str(out), "--epochs", "1", "--imgsz", "64"]
    assert main(argv) == 0
    assert (out / "new_scene_pred.jpg").is_file()
    assert (out / "data" / "coco-panoptic.yaml").is_file()
    converted = load_weights(out / "train" / "weights" / "best-converted.pt")
    assert converted.model.name == "gelan-t-dpan"
    assert converted.names == ["disc", "box", "triangle"]
    assert converted.stuff_names == ["sky", "grass", "sand", "water", "wall"]
    assert "PQ" in (out / "train" / "results.csv").read_text()


def test_caption_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "cap-demo"
    argv = ["demo", "--task", "caption", "--out", str(out), "--epochs", "1", "--imgsz", "64"]
    assert main(argv) == 0
    assert (out / "new_scene_pred.jpg").is_file()
    converted = load_weights(out / "train" / "weights" / "best-converted.pt")
    assert converted.model.name == "gelan-t-cap"
    assert converted.names == ["circle", "square", "triangle"]
    assert "CIDEr-D" in (out / "train" / "results.csv").read_text()


@pytest.mark.slow  # 240 scenes through every task's validation: about 1.5 min
def test_all_task_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "all-demo"
    argv = ["demo", "--task", "all", "--out", str(out), "--epochs", "1", "--imgsz", "64"]
    assert main(argv) == 0
    assert (out / "new_scene_pred.jpg").is_file()
    assert (out / "data" / "all.yaml").is_file()
    converted = load_weights(out / "train" / "weights" / "best-converted.pt")
    assert converted.model.name == "gelan-t-all"
    assert converted.stuff_names == ["sky", "grass", "sand", "water", "wall"]
    header = (out / "train" / "results.csv").read_text().splitlines()[0]
    for figure in ("PQ", "mIoU", "mask/AP", "CIDEr-D", "all-tasks"):
        assert figure in header


def test_val_scores_a_predictions_file(tmp_path: Path, shapes: dict[str, Path]) -> None:
    from yolov9.data.dataset import load_dataset
    from yolov9.metrics.coco import coco_ground_truth

    gt = coco_ground_truth(load_dataset(shapes["coco"], "val"))
    preds = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": 0.9,
        }
        for a in gt["annotations"]
    ]
    (tmp_path / "preds.json").write_text(json.dumps(preds))
    out = tmp_path / "metrics.json"
    rc = main(
        [
            "val",
            "--data",
            str(shapes["coco"]),
            "--predictions",
            str(tmp_path / "preds.json"),
            "--out",
            str(tmp_path / "run"),
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    metrics = json.loads(out.read_text())
    assert {"AP", "AP50", "AP75", "APs", "APm", "APl", "per_class"} <= set(metrics)
    assert metrics["AP"] == 1.0
    assert (tmp_path / "run" / "pr_curve.png").is_file()


def test_val_runs_a_checkpoint(tmp_path: Path, shapes: dict[str, Path]) -> None:
    from yolov9.data.synthetic import SHAPES

    ckpt = save_checkpoint(tmp_path / "w.pt", build_model("yolov9-t", num_classes=4), list(SHAPES))
    rc = main(
        [
            "val",
            "--weights",
            str(ckpt),
            "--data",
            str(shapes["yolo"]),
            "--imgsz",
            "64",
            "--batch",
            "4",
            "--workers",
            "0",
            "--out",
            str(tmp_path / "run"),
            "--save-predictions",
            str(tmp_path / "p.json"),
        ]
    )
    assert rc == 0
    report = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert report["images"] == 12
    assert set(report["speed_ms"]) == {"preprocess", "inference", "postprocess"}
    assert isinstance(json.loads((tmp_path / "p.json").read_text()), list)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --weights"),
        (["--predictions", "{bad}"], "not valid JSON"),
        (["--weights", "{ckpt}"], "the model has 2 classes"),
    ],
)
def test_val_errors(
    tmp_path: Path,
    shapes: dict[str, Path],
    checkpoint: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    subst = {"{bad}": str(tmp_path / "bad.json"), "{ckpt}": str(checkpoint)}
    argv = [
        "val",
        "--data",
        str(shapes["yolo"]),
        "--out",
        str(tmp_path / "r"),
        *[subst.get(a, a) for a in extra],
    ]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_log_messages_follow_the_current_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logging set up by one ``main`` call keeps writing to whatever stderr is current, not to
    a stream that has since been replaced (and perhaps closed)."""
    import io
    import logging

    from yolov9.utils.logs import setup_logging

    setup_logging()
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logging.getLogger("yolov9.test").info("one")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    logging.getLogger("yolov9.test").info("two")
    assert second.getvalue() == "two\n"
