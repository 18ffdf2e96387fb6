"""Prediction with panoptic checkpoints, end to end: the semantic map and the fused panoptic
segmentation of every result obey the fusion rule on a real (random) network's output, and
``yolov9 predict`` writes them as COCO panoptic results and semantic PNGs; other models refuse
the panoptic options in one line."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import PAN_NAMES, PAN_STUFF, panoptic_scene, panoptic_test_model
from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.cli import main
from yolov9.errors import ConfigError
from yolov9.inference.result import Result
from yolov9.metrics.panoptic import evaluate_panoptic, rgb_to_id
from yolov9.models import build_model

NAMES, STUFF = PAN_NAMES, PAN_STUFF


_image = panoptic_scene


def _predict(ckpt: Path, image: np.ndarray) -> Result:
    detector = Detector.from_pretrained(ckpt, imgsz=128)
    return detector.predict(image, conf=0.2)[0]


def test_results_obey_the_fusion_rule(pan_ckpt: Path) -> None:
    image = _image((112, 160), 0)  # letterboxed: padding above and below
    result = _predict(pan_ckpt, image)
    sem, pan = result.semantic, result.panoptic
    assert sem is not None
    assert pan is not None
    assert result.masks is not None
    assert sem.shape == pan.ids.shape == (112, 160)
    assert sem.dtype == np.uint8
    assert int(sem.max()) < 5
    assert pan.labels.names == ("a", "b", "sky", "grass", "road")
    things = [s for s in pan.segments if s.isthing]
    stuff = [s for s in pan.segments if not s.isthing]
    assert len(things) >= 2
    assert len(stuff) >= 2
    # the second instance loses the pixels the first one took
    assert things[1].detection is not None
    assert things[1].area < int(result.masks.areas[things[1].detection])
    claimed = np.zeros(sem.shape, bool)
    for s in things:  # in score order, each instance keeps its mask minus earlier ones
        assert s.score is not None
        assert s.score >= 0.25
        assert s.detection is not None
        mine = pan.ids == s.id
        assert (mine == (result.masks.mask(s.detection) & ~claimed)).all()
        claimed |= mine
    for s in stuff:  # stuff: its argmax pixels that no instance took
        assert (pan.ids == s.id).sum() == s.area
        assert ((pan.ids == s.id) == ((sem == s.category) & ~claimed)).all()
    void = pan.ids == 0
    assert void.any()
    assert (sem[void] < len(NAMES)).all()  # only unclaimed thing-argmax pixels are void
    assert sum(s.area for s in pan.segments) == int((~void).sum())
    # drawn: stuff regions with names under the instances
    assert not np.array_equal(result.plot(), result.select(np.arange(0)).plot())


def test_predict_writes_coco_panoptic_and_semantic_pngs(pan_ckpt: Path, tmp_path: Path) -> None:
    src = tmp_path / "images"
    src.mkdir()
    for i, shape in enumerate([(96, 160), (128, 128)]):
        cv2.imwrite(str(src / f"{i:012d}.png"), _image(shape, i))
    out = tmp_path / "out"
    rc = main(
        [
            "predict",
            "--weights",
            str(pan_ckpt),
            "--source",
            str(src),
            "--conf",
            "0.2",
            "--save-panoptic",
            str(out / "panoptic_pred"),
            "--save-semantic",
            str(out / "semantic"),
            "--out",
            str(out / "vis"),
        ]
    )
    assert rc == 0
    doc = json.loads((out / "panoptic_pred.json").read_text())
    assert [a["image_id"] for a in doc["annotations"]] == [0, 1]
    assert [c["name"] for c in doc["categories"]] == NAMES + STUFF
    assert [c["isthing"] for c in doc["categories"]] == [1, 1, 0, 0, 0]
    detector = Detector.from_pretrained(pan_ckpt, imgsz=128)
    for ann in doc["annotations"]:
        path = src / f"{ann['image_id']:012d}.png"
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        want = detector.predict(image, conf=0.2)[0]
        assert want.panoptic is not None
        png = cv2.imread(str(out / "panoptic_pred" / ann["file_name"]))[..., ::-1]
        assert (rgb_to_id(png) == want.panoptic.ids).all()
        assert ann["segments_info"] == want.panoptic.records()
        sem = cv2.imread(str(out / "semantic" / ann["file_name"]), cv2.IMREAD_UNCHANGED)
        assert (sem == want.semantic).all()
    # the files are a consistent COCO panoptic set: scored against itself, everything is 1
    metrics = evaluate_panoptic(out / "panoptic_pred.json", out / "panoptic_pred.json")
    assert metrics.groups["All"]["pq"] == 1.0
    assert len(list((out / "vis").iterdir())) == 2


@pytest.mark.parametrize("flag", ["--save-panoptic", "--save-semantic"])
def test_other_models_refuse_the_panoptic_outputs(
    tmp_path: Path, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = save_checkpoint(tmp_path / "seg.pt", build_model("gelan-t-seg", 2), NAMES)
    cv2.imwrite(str(tmp_path / "x.jpg"), _image((64, 64), 0))
    argv = ["predict", "--weights", str(ckpt), "--source", str(tmp_path / "x.jpg"), "--no-save"]
    assert main([*argv, flag, str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: {flag} needs a panoptic model; {ckpt} is for instance segmentation"


def test_tracked_results_keep_the_image_segmentation_with_valid_links(pan_ckpt: Path) -> None:
    detector = Detector.from_pretrained(pan_ckpt, imgsz=128)
    frames = [_image((112, 160), 0), _image((112, 160), 1)]
    results = detector.track(frames, conf=0.2)
    assert results
    for result in results:
        assert result.panoptic is not None
        assert result.track_ids is not None
        for s in result.panoptic.segments:
            assert s.detection is None or 0 <= s.detection < len(result)


def test_tiles_are_refused_for_panoptic_models(pan_ckpt: Path) -> None:
    detector = Detector.from_pretrained(pan_ckpt, imgsz=128)
    with pytest.raises(ConfigError, match="tiles do not apply to panoptic"):
        detector.predict(_image((112, 160), 0), tile=64)


def test_a_model_trained_on_label_maps_draws_its_semantic_map(tmp_path: Path) -> None:
    """No stuff channels (every class a thing, none detected): the panoptic segmentation is
    void, so the picture shows the semantic map's classes as named regions instead."""
    model = panoptic_test_model(things=5, stuff=0)
    ckpt = save_checkpoint(tmp_path / "sem.pt", model, ["a", "b", "sky", "grass", "road"])
    image = _image((112, 160), 0)
    result = Detector.from_pretrained(ckpt, imgsz=128).predict(image, conf=0.99)[0]
    assert result.semantic is not None
    regions, names, _ = result._stuff_regions()
    assert len(names) == len(np.unique(result.semantic)) > 1
    assert regions.min() >= 1  # every pixel in a region
    assert (result.plot() != image).mean() > 0.5
