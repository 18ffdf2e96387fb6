"""``yolov9 val`` on COCO panoptic data: a model's PQ equals the COCO panoptic scoring of the
files ``yolov9 predict --save-panoptic`` writes with the same settings; the ground truth scored
as predictions is perfect; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import yaml

from tests.conftest import panoptic_scene, panoptic_test_model
from yolov9.checkpoints import save_checkpoint
from yolov9.cli import main
from yolov9.data.synthetic_panoptic import STUFF, THINGS, write_panoptic_dataset
from yolov9.inference.backends import Decoded, InferenceBackend
from yolov9.models import build_model


@pytest.fixture(scope="module")
def panoptic_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_panoptic_dataset(tmp_path_factory.mktemp("pan-data"), 4)


@pytest.fixture(scope="module")
def pan_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gelan-t-pan with the data's classes whose output has instances and stuff."""
    path = tmp_path_factory.mktemp("pan-model") / "pan.pt"
    meta = {"imgsz": 128, "stuff_names": list(STUFF)}
    model = panoptic_test_model(len(THINGS), len(STUFF))
    return save_checkpoint(path, model, list(THINGS), meta=meta)


def _val(tmp_path: Path, *argv: str) -> dict:
    out = tmp_path / f"m{len(list(tmp_path.glob('m*.json')))}.json"
    rc = main(["val", *argv, "--out", str(tmp_path / "runs"), "--json", str(out)])
    assert rc == 0
    return json.loads(out.read_text())


def test_model_val_equals_scoring_the_files_predict_writes(
    panoptic_data: Path, pan_model: Path, tmp_path: Path
) -> None:
    images = panoptic_data.parent / "images"
    pred = tmp_path / "pred" / "panoptic_pred"
    predict = ["predict", "--weights", str(pan_model), "--source", str(images), "--no-save"]
    rc = main([*predict, "--conf", "0.001", "--iou", "0.6", "--save-panoptic", str(pred)])
    assert rc == 0
    by_model = _val(
        tmp_path, "--weights", str(pan_model), "--data", str(panoptic_data), "--single-label"
    )
    by_file = _val(tmp_path, "--predictions", f"{pred}.json", "--data", str(panoptic_data))
    assert by_model["panoptic"] == by_file["panoptic"]
    groups = by_model["panoptic"]
    assert set(groups) == {"All", "Things", "Stuff", "per_class"}
    assert 0 < groups["All"]["n"] <= len(THINGS) + len(STUFF)
    assert 0.0 <= groups["All"]["pq"] < 1.0
    # the model run also scores the semantic map and the things' boxes and masks
    sem = by_model["semantic"]
    assert 0.0 < sem["pixel_acc"] < 1.0
    assert set(sem["per_class"]) == set(THINGS + STUFF)
    assert "stuff_mIoU" in sem
    assert "AP" in by_model["bbox"]
    assert "AP" in by_model["mask"]


def test_the_ground_truth_scores_one(panoptic_data: Path, tmp_path: Path) -> None:
    doc = json.loads(panoptic_data.read_text())
    assert any(s["iscrowd"] for a in doc["annotations"] for s in a["segments_info"])
    got = _val(tmp_path, "--predictions", str(panoptic_data), "--data", str(panoptic_data))
    assert got["panoptic"]["All"]["pq"] == 1.0
    assert got["panoptic"]["All"]["n"] == len(THINGS) + len(STUFF)


def _copy(panoptic_data: Path, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    for sub in ("images", "panoptic"):
        (root / sub).mkdir(parents=True)
        for f in (panoptic_data.parent / sub).iterdir():
            (root / sub / f.name).write_bytes(f.read_bytes())
    (root / "panoptic.json").write_text(panoptic_data.read_text())
    return root / "panoptic.json"


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        ("png_extra_id", "segment id 99 is in the PNG but not in panoptic.json"),
        ("json_extra_id", "segment id 99 has no pixel in 000000000001.png"),
        ("unknown_category", "segment id 1: unknown category 999"),
        ("missing_image", "image 000000000001.png not found"),
        ("twice", "image 1 has two annotations"),
        ("no_width", "images[0] lacks width"),
    ],
)
def test_bad_panoptic_data_is_one_line(
    panoptic_data: Path,
    pan_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    break_it: str,
    message: str,
) -> None:
    data = _copy(panoptic_data, tmp_path)
    doc = json.loads(data.read_text())
    first = doc["annotations"][0]
    png = data.parent / "panoptic" / first["file_name"]
    if break_it == "png_extra_id":
        rgb = cv2.imread(str(png))
        rgb[5, 5] = (0, 0, 99)  # BGR: red 99 -> id 99
        cv2.imwrite(str(png), rgb)
    elif break_it == "json_extra_id":
        first["segments_info"].append({"id": 99, "category_id": 10, "iscrowd": 0})
    elif break_it == "unknown_category":
        first["segments_info"][0]["category_id"] = 999
    elif break_it == "twice":
        doc["annotations"].append(first)
    elif break_it == "no_width":
        del doc["images"][0]["width"]
    else:
        (data.parent / "images" / "000000000001.png").unlink()
    data.write_text(json.dumps(doc))
    rc = main(["val", "--weights", str(pan_model), "--data", str(data), "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_models_without_the_data_classes_or_panoptic_head_are_refused(
    panoptic_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seg = save_checkpoint(tmp_path / "seg.pt", build_model("gelan-t-seg", 2), list(THINGS))
    other = save_checkpoint(
        tmp_path / "other.pt", build_model("gelan-t-pan", 2, stuff_classes=1), ["cat", "disc"]
    )
    for ckpt, message in (
        (seg, "the model is for instance segmentation: give a panoptic model"),
        (other, "no category named 'cat', a thing class of the model"),
    ):
        rc = main(
            ["val", "--weights", str(ckpt), "--data", str(panoptic_data), "--out", str(tmp_path)]
        )
        assert rc == 2
        assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_semantic_label_maps_give_the_semantic_scores_of_the_same_truth(
    panoptic_data: Path, pan_model: Path, tmp_path: Path
) -> None:
    """Label maps made from the panoptic ground truth (category per pixel, void 255): the
    semantic scores equal those of panoptic validation; there is no PQ or AP."""
    from yolov9.data.panoptic import read_panoptic

    panset = read_panoptic(panoptic_data)
    (tmp_path / "maps").mkdir()
    for image in panset.images:
        truth = panset.semantic_truth(panset.read_ids(image), image)
        truth[truth < 0] = 255
        cv2.imwrite(
            str(tmp_path / "maps" / f"{Path(image.file_name).stem}.png"), truth.astype(np.uint8)
        )
    yaml_file = tmp_path / "semantic.yaml"
    yaml_file.write_text(
        f"path: {tmp_path}\nnames: {list(THINGS + STUFF)}\n"
        f"val: {{images: {panoptic_data.parent / 'images'}, semantic: maps}}\n"
    )
    by_maps = _val(tmp_path, "--weights", str(pan_model), "--data", str(yaml_file))
    by_panoptic = _val(tmp_path, "--weights", str(pan_model), "--data", str(panoptic_data))
    assert "panoptic" not in by_maps
    assert "bbox" not in by_maps
    for key in ("mIoU", "FWIoU", "pixel_acc", "per_class"):
        assert by_maps["semantic"][key] == pytest.approx(by_panoptic["semantic"][key]), key


def _write_authors(root: Path) -> Path:
    """Two 64x96 images in the authors' format: rectangles, so the truth is known exactly."""
    for sub in ("images", "labels", "stuff"):
        (root / sub).mkdir(parents=True)
    h, w = 64, 96

    def rect(x1: float, y1: float, x2: float, y2: float) -> str:
        return " ".join(
            f"{v:.6f}" for v in (x1 / w, y1 / h, x2 / w, y1 / h, x2 / w, y2 / h, x1 / w, y2 / h)
        )

    for i in range(2):
        cv2.imwrite(str(root / "images" / f"im{i}.png"), panoptic_scene((h, w), i)[..., ::-1])
        things = [f"0 {rect(10, 30, 40, 60)}", f"1 {rect(30, 20, 60, 50)}"]  # overlapping
        (root / "labels" / f"im{i}.txt").write_text("\n".join(things) + "\n")
        stuff = [*things, f"2 {rect(0, 0, 96, 24)}", f"3 {rect(0, 24, 96, 64)}"]
        (root / "stuff" / f"im{i}.txt").write_text("\n".join(stuff) + "\n")
    (root / "data.yaml").write_text(
        f"names: {list(THINGS)}\nstuff_names: {list(STUFF)}\n"
        "val: {images: images, stuff: stuff}\n"
    )
    return root / "data.yaml"


def test_the_authors_format_is_read_as_panoptic_truth(
    pan_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from yolov9.data.panoptic_formats import panoptic_split

    data = _write_authors(tmp_path / "authors")
    panset = panoptic_split(data)
    assert panset is not None
    image = panset.images[0]
    with caplog.at_level("WARNING"):
        ids = panset.read_ids(image)
    assert "object 2 overlaps an earlier one" in caplog.text
    by_id = {s["id"]: s["category_id"] for s in image.segments}
    names = {c["id"]: c["name"] for c in panset.categories}
    assert names[by_id[ids[5, 5]]] == "sky"  # stuff below the things
    assert names[by_id[ids[60, 90]]] == "grass"
    assert names[by_id[ids[35, 35]]] == "disc"  # the overlap stays the first object's
    assert names[by_id[ids[25, 50]]] == "box"
    got = _val(tmp_path, "--weights", str(pan_model), "--data", str(data))
    assert set(got) >= {"panoptic", "semantic", "bbox", "mask"}
    assert got["panoptic"]["All"]["n"] > 0


def test_a_panoptic_model_on_instance_data_scores_boxes_and_masks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from yolov9.data.synthetic import write_dataset

    data = write_dataset(tmp_path / "seg", splits={"val": 3}, size=(64, 64), masks=True)["yolo"]
    names = yaml.safe_load(data.read_text())["names"]
    model = build_model("gelan-t-pan", len(names), stuff_classes=2)
    ckpt = save_checkpoint(tmp_path / "pan.pt", model, names)
    got = _val(tmp_path, "--weights", str(ckpt), "--data", str(data), "--imgsz", "64")
    assert "no stuff or semantic labels" in capsys.readouterr().err
    assert "AP" in got
    assert "mask" in got
    assert "panoptic" not in got


def test_results_are_matched_by_file_name_when_ids_differ(
    panoptic_data: Path, pan_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dataset whose image ids are not the file names: the files ``predict`` writes are
    still scored (matched by name); a results file that is missing is one line."""
    data = _copy(panoptic_data, tmp_path)
    doc = json.loads(data.read_text())
    for image in doc["images"]:
        image["id"] += 500
    for ann in doc["annotations"]:
        ann["image_id"] += 500
    data.write_text(json.dumps(doc))
    pred = tmp_path / "pred" / "panoptic_pred"
    predict = ["predict", "--weights", str(pan_model), "--source", str(data.parent / "images")]
    assert main([*predict, "--no-save", "--save-panoptic", str(pred)]) == 0
    got = _val(tmp_path, "--predictions", f"{pred}.json", "--data", str(data))
    assert got["panoptic"]["All"]["n"] > 0
    missing = str(tmp_path / "nothing.json")
    rc = main(["val", "--predictions", missing, "--data", str(data), "--out", str(tmp_path)])
    assert rc == 2
    assert "nothing.json: cannot read" in capsys.readouterr().err.strip().splitlines()[-1]


class _TruthBackend(InferenceBackend):
    """A 'panoptic model' whose output is the ground truth of the images, in order: each
    thing's exact box (score 0.9, its class), a mask filling the box, and one-hot semantic
    logits at stride 4."""

    task = "panoptic"

    def __init__(self, panset: Any) -> None:
        self.names = [n for n, t in zip(panset.names, panset.isthing, strict=True) if t]
        self.stuff_names = tuple(
            n for n, t in zip(panset.names, panset.isthing, strict=True) if not t
        )
        self.imgsz = 128
        self.nms_settings = {}
        self.truths = []
        for image in panset.images:
            ids = panset.read_ids(image)
            inst = panset.instance_truth(ids, image)
            keep = ~inst.crowd
            sem = panset.semantic_truth(ids, image)
            self.truths.append((inst.boxes[keep], inst.classes[keep], np.maximum(sem, 0)))

    def infer(self, images: torch.Tensor) -> Decoded:
        boxes, classes, sem = self.truths.pop(0)
        n, c, k = len(boxes), len(self.names), len(self.names) + len(self.stuff_names)
        scores = torch.zeros(1, n, c)
        scores[0, torch.arange(n), torch.from_numpy(classes)] = 0.9
        h, w = images.shape[2:]
        semantic = torch.zeros(1, k, h // 4, w // 4)
        low = torch.from_numpy(sem[2::4, 2::4].astype(np.int64))
        semantic[0].scatter_(0, low[None], 10.0)
        return Decoded(
            torch.from_numpy(boxes)[None],
            scores,
            torch.ones(1, n, 1),
            torch.full((1, 1, h // 4, w // 4), 10.0),
            semantic,
        )


def test_the_truth_as_a_model_scores_box_ap_one(panoptic_data: Path) -> None:
    """Category and image ids survive the way from the model's classes to COCOeval: the
    ground-truth boxes as detections score box AP 1 (masks fill their boxes, so mask AP and
    PQ are high but below 1; the semantic map is the truth at stride 4)."""
    from yolov9.data.panoptic import read_panoptic
    from yolov9.engine.panoptic_val import evaluate_panoptic_model

    panset = read_panoptic(panoptic_data)
    report = evaluate_panoptic_model(panset, _TruthBackend(panset), imgsz=128, progress=False)
    assert report.boxes is not None
    assert report.masks is not None
    assert report.boxes.as_dict()["AP"] == pytest.approx(1.0)
    assert 0.3 < report.masks.as_dict()["AP"] < 1.0
    assert report.semantic is not None
    assert report.semantic["pixel_acc"] > 0.9
    assert report.panoptic is not None
    assert report.panoptic.groups["Stuff"]["pq"] > 0.8
