"""Training caption models: a short PGI run validates BLEU and CIDEr-D and both heads'
losses, picks the best epoch by CIDEr-D, keeps the vocabulary in the checkpoint, resumes
exactly; captions without boxes leave the detection heads untouched; `yolov9 val` and
`yolov9 predict` caption through the command line; bad combinations are one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.engine.test_trainer import _cfg as trainer_cfg
from tests.engine.test_trainer import _Interrupt
from yolov9.checkpoints import load_weights, read_torch_file, save_checkpoint
from yolov9.cli import main
from yolov9.config import TrainConfig
from yolov9.data.synthetic_captions import SHAPES, write_caption_dataset
from yolov9.engine.train_state import read_training_state
from yolov9.engine.training import resume, train
from yolov9.errors import ConfigError, DataError
from yolov9.models import build_model
from yolov9.tasks.caption import CaptionTokenizer


@pytest.fixture(scope="module")
def captions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 training and 3 validation scenes (96 x 128), boxes and five captions each."""
    return write_caption_dataset(tmp_path_factory.mktemp("cap-train"), {"train": 8, "val": 3})


def _cfg(data: Path, out: Path, **kw: Any) -> TrainConfig:
    return trainer_cfg(data, out, **{"model.name": "yolov9-t-cap", **kw})


def test_cap_run_validates_cider_and_resumes_exactly(captions: Path, tmp_path: Path) -> None:
    full = train(_cfg(captions, tmp_path / "full"))
    assert full.fitness == "CIDEr-D"
    for record in full.history:
        assert {"BLEU-1", "BLEU-4", "CIDEr-D"} <= set(record)
        assert record["train/main/caption"] > 0
        assert record["val/main/caption"] > 0
        for head in ("main", "aux"):
            for term in ("box", "cls", "dfl"):
                assert record[f"train/{head}/{term}"] > 0
    best = max(full.history, key=lambda r: r["CIDEr-D"])
    assert full.best_metrics["CIDEr-D"] == best["CIDEr-D"]
    assert full.best_converted is not None
    converted = load_weights(full.best_converted)
    assert converted.model.aux is None
    assert converted.model.task == "caption"
    assert converted.names == list(SHAPES)
    head = converted.model.caption
    assert head is not None
    tokenizer = CaptionTokenizer(head.vocabulary())  # the checkpoint alone captions
    assert len(tokenizer) == head.spec.vocab_size

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(captions, tmp_path / "part"), hooks=[_Interrupt(after_epoch=0)])
    resumed = resume(tmp_path / "part/weights/last.pt")
    a, b = read_torch_file(full.last), read_torch_file(resumed.last)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_the_language_step_trains_the_caption_head_apart_and_resumes_exactly(
    captions: Path, tmp_path: Path
) -> None:
    """optim.language_step: the caption head has an optimiser of its own (at language_lr x
    lr0, no warm-up), the rest of the model another; both terms are logged; a resume
    restores both optimisers, so it ends where the uninterrupted run ends."""
    kw = {"optim.language_step": "on", "augment.mosaic": 1.0}
    full = train(_cfg(captions, tmp_path / "full", **kw))
    record = full.history[-1]
    assert record["train/main/caption"] > 0
    assert record["train/main/box"] > 0
    _, state = read_training_state(full.last)
    groups = state["language_optimizer"]["param_groups"]
    head = load_weights(full.last).model.caption
    assert head is not None
    assert sum(len(g["params"]) for g in groups) == len(list(head.parameters()))
    main_params = sum(len(g["params"]) for g in state["optimizer"]["param_groups"])
    trainable = [p for p in build_model("yolov9-t-cap", 3).parameters() if p.requires_grad]
    assert main_params == len(trainable) - len(list(head.parameters()))
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(captions, tmp_path / "part", **kw), hooks=[_Interrupt(after_epoch=0)])
    resumed = resume(tmp_path / "part/weights/last.pt")
    a, b = read_torch_file(full.last), read_torch_file(resumed.last)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_fine_tuning_keeps_the_vocabulary_and_resumes_without_the_weights_file(
    captions: Path, tmp_path: Path
) -> None:
    """A run from a caption checkpoint keeps its vocabulary (read once, with its weights);
    the resumed run takes the vocabulary from its own last.pt, not from --weights."""
    first = train(_cfg(captions, tmp_path / "first", epochs=1))
    start = tmp_path / "start.pt"
    start.write_bytes(first.last.read_bytes())
    kw = {"model.weights": str(start), "model.vocab": 8}  # a new vocabulary would be smaller
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(captions, tmp_path / "tuned", **kw), hooks=[_Interrupt(after_epoch=0)])
    start.unlink()
    resumed = resume(tmp_path / "tuned/weights/last.pt")
    head = load_weights(resumed.last).model.caption
    kept = load_weights(first.last).model.caption
    assert head is not None
    assert kept is not None
    assert head.vocabulary() == kept.vocabulary()


def test_the_language_step_needs_a_caption_model_and_boxes(captions: Path, tmp_path: Path) -> None:
    step = {"optim.language_step": "on"}
    with pytest.raises(ConfigError, match="only caption models have a language step"):
        train(_cfg(_boxes_only(captions), tmp_path / "a", **{"model.name": "yolov9-t"}, **step))
    data = _captions_only(captions, tmp_path / "only")
    with pytest.raises(ConfigError, match="no boxes, so there is no vision step"):
        train(_cfg(data, tmp_path / "b", **step))


def _boxes_only(captions: Path) -> Path:
    """The generated scenes' images and boxes as detection data."""
    path = captions.parent / "boxes.yaml"
    path.write_text("train: images/train\nval: images/val\nnames: [circle, square, triangle]\n")
    return path


def _captions_only(captions: Path, root: Path) -> Path:
    """The generated scenes' images and captions, without their boxes."""
    src = captions.parent
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        for f in (src / "images" / split).iterdir():
            (root / "images" / split / f.name).write_bytes(f.read_bytes())
        (root / f"captions_{split}.json").write_text((src / f"captions_{split}.json").read_text())
    path = root / "data.yaml"
    path.write_text(
        "train: {images: images/train, captions: captions_train.json}\n"
        "val: {images: images/val, captions: captions_val.json}\n"
        "names: [circle, square, triangle]\n"
    )
    return path


def test_a_detector_fine_tuned_on_captions_alone_keeps_its_detection_heads(
    captions: Path, tmp_path: Path
) -> None:
    """From a detection checkpoint, on captions without boxes: the detection terms are off,
    so the detection heads (main and auxiliary) keep the detector's weights exactly while the
    caption head and the shared layers learn."""
    detector = train(_cfg(_boxes_only(captions), tmp_path / "det", **{"model.name": "yolov9-t"}))
    data = _captions_only(captions, tmp_path / "only")
    tuned = train(_cfg(data, tmp_path / "tuned", epochs=1, **{"model.weights": str(detector.last)}))
    record = tuned.history[-1]
    assert record["train/box"] == 0
    assert record["train/main/caption"] > 0
    before = load_weights(detector.last).model.state_dict()
    after = load_weights(tuned.last).model.state_dict()
    # learnt weights; BatchNorm statistics are estimates of the (changing) shared features
    heads = [
        k
        for k in after
        if k.startswith(("head.", "aux.head.")) and "running_" not in k and "num_batches" not in k
    ]
    assert heads
    for key in heads:
        assert torch.equal(after[key], before[key]), key
    key = "neck.top_down.spp.cv1.conv.weight"
    assert not torch.equal(after[key], before[key])


def test_val_and_predict_caption_through_the_cli(
    captions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = train(_cfg(captions, tmp_path / "run", epochs=1))
    weights = str(run.best_converted or run.last)
    out = tmp_path / "metrics.json"
    results = tmp_path / "captions.json"
    code = main(
        [
            "val",
            "--weights",
            weights,
            "--data",
            str(captions),
            "--imgsz",
            "64",
            "--json",
            str(out),
            "--save-predictions",
            str(results),
            "--out",
            str(tmp_path / "v"),
        ]
    )
    assert code == 0
    assert "3 images captioned: BLEU-1" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report["caption"]) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D"}
    written = json.loads(results.read_text())
    assert sorted(e["image_id"] for e in written) == [1, 2, 3]
    # the written results score the same through --predictions
    again = tmp_path / "again.json"
    main(
        [
            "val",
            "--predictions",
            str(results),
            "--data",
            str(captions.parent / "captions_val.json"),
            "--json",
            str(again),
            "--out",
            str(tmp_path / "v2"),
        ]
    )
    assert json.loads(again.read_text())["caption"] == report["caption"]

    image = captions.parent / "images" / "val" / "val_00000.png"
    records = tmp_path / "records.json"
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
            "--out",
            str(tmp_path / "p"),
        ]
    )
    assert code == 0
    printed = capsys.readouterr()
    last = json.loads(records.read_text())[-1]
    assert set(last) == {"file", "frame", "caption", "caption_score"}
    assert f"caption: {last['caption']}" in printed.out + printed.err


def test_wrong_combinations_are_one_line(captions: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="train a caption model on it"):
        train(_cfg(captions, tmp_path / "a", **{"model.name": "yolov9-t"}))
    with pytest.raises(DataError, match="learns captions, but this data has none"):
        train(_cfg(_boxes_only(captions), tmp_path / "b"))


def test_a_detection_checkpoint_with_caption_options_or_data_is_one_line(
    captions: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = save_checkpoint(tmp_path / "det.pt", build_model("gelan-t", 3), list(SHAPES))
    image = captions.parent / "images" / "val" / "val_00000.png"
    argv = ["predict", "--weights", str(weights), "--source", str(image), "--beam", "3"]
    assert main([*argv, "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--beam: for caption models;" in err[-1]
    assert "is a detection model" in err[-1]
    argv = ["val", "--weights", str(weights), "--data", str(captions), "--out", str(tmp_path / "v")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "is caption data, but" in err[-1]
    assert "give a caption model" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_real_coco_captions_train_and_score_end_to_end(shared: Path, tmp_path: Path) -> None:
    """A smoke run on the 79 real photos (captions only, raw COCO text): the vocabulary, the
    data path without boxes, training, and scoring through `val`; far too small to learn."""
    coco = shared / "data" / "coco_mini_val2017_captions"
    data = tmp_path / "coco.yaml"
    data.write_text(
        f"train: {{images: {coco / 'images'}, captions: {coco / 'captions_val2017.json'}}}\n"
        f"val: {{images: {coco / 'images'}, captions: {coco / 'captions_val2017.json'}}}\n"
    )
    run = train(_cfg(data, tmp_path / "run", epochs=1, **{"model.name": "gelan-t-cap"}))
    record = run.history[-1]
    assert record["train/box"] == 0
    assert record["train/main/caption"] > 0
    assert record["CIDEr-D"] >= 0
    assert 0 <= record["BLEU-4"] <= 1
    loaded = load_weights(run.last)
    assert loaded.names == ["object"]
    tokenizer = CaptionTokenizer(loaded.model.caption.vocabulary())
    assert tokenizer.decode(tokenizer.encode("A man riding a wave on a surfboard.")) == (
        "a man riding a wave on a surfboard"
    )
