"""COCO metrics: equal to pycocotools, identical across formats, 1 for perfect, 0 for none."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from yolov9.data.coco80 import COCO80_NAMES
from yolov9.data.dataset import DetectionDataset, load_dataset
from yolov9.errors import DataError
from yolov9.metrics.coco import coco_ground_truth, evaluate_coco, to_coco_results

KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def perturbed(
    gt: dict, seed: int, jitter: float = 0.08, drop: float = 0.1, noise: int = 100
) -> list:
    """Predictions made from the ground truth: jittered, some dropped, wrong classes, noise."""
    rng = np.random.default_rng(seed)
    cats = [c["id"] for c in gt["categories"]]
    preds = []
    for a in gt["annotations"]:
        if a.get("iscrowd") or rng.random() < drop:
            continue
        x, y, w, h = a["bbox"]
        j = rng.normal(0, jitter, 4) * [w, h, w, h]
        cat = a["category_id"] if rng.random() > 0.1 else int(rng.choice(cats))
        preds.append(
            {
                "image_id": a["image_id"],
                "category_id": cat,
                "score": float(rng.random()),
                "bbox": [x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])],
            }
        )
    for _ in range(noise):
        img = gt["images"][int(rng.integers(len(gt["images"])))]
        preds.append(
            {
                "image_id": img["id"],
                "category_id": int(rng.choice(cats)),
                "score": float(rng.random() * 0.5),
                "bbox": [
                    float(rng.uniform(0, img["width"] / 2)),
                    float(rng.uniform(0, img["height"] / 2)),
                    float(rng.uniform(5, 100)),
                    float(rng.uniform(5, 100)),
                ],
            }
        )
    return preds


def pycocotools_stats(gt_json: Path | dict, preds: list, iou_type: str = "bbox") -> np.ndarray:
    """The reference: pycocotools' 12 COCOeval stats (inputs are not modified)."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = (
            json.loads(Path(gt_json).read_text())
            if isinstance(gt_json, Path)
            else copy.deepcopy(gt_json)
        )
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(copy.deepcopy(preds)), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def as_array(m) -> np.ndarray:
    return np.array([getattr(m, k) for k in KEYS])


def test_equals_pycocotools_on_generated_data(shapes: dict[str, Path]) -> None:
    ds = load_dataset(shapes["coco"], "val")
    gt = coco_ground_truth(ds)
    for seed in range(3):
        preds = perturbed(gt, seed)
        ours = as_array(evaluate_coco(gt, preds))
        np.testing.assert_allclose(ours, pycocotools_stats(gt, preds), atol=1e-4, rtol=0)


def test_perfect_and_empty_predictions(shapes: dict[str, Path]) -> None:
    gt = coco_ground_truth(load_dataset(shapes["coco"], "val"))
    perfect = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in gt["annotations"]
    ]
    m = evaluate_coco(gt, perfect)
    assert (m.AP, m.AP50, m.AP75, m.AR100) == (1.0, 1.0, 1.0, 1.0)
    assert all(d["AP"] == 1.0 for d in m.per_class.values() if d["num_gt"])
    none = evaluate_coco(gt, [])
    assert (none.AP, none.AP50, none.AR100) == (0.0, 0.0, 0.0)
    assert set(none.as_dict()) >= {"AP", "AP50", "AP75", "APs", "APm", "APl", "per_class"}


def _results_for(ds: DetectionDataset, per_image: list[tuple]) -> list:
    out = []
    for record, (b, s, c) in zip(ds.records, per_image, strict=True):
        out += to_coco_results(record.image_id, b, s, c, ds.category_ids)
    return out


def test_same_images_in_every_format_give_identical_metrics(shapes: dict[str, Path]) -> None:
    sets = {fmt: load_dataset(p, "val") for fmt, p in shapes.items()}
    rng = np.random.default_rng(1)
    per_image = []
    for r in sets["yolo"].records:  # detections per image, shared by all formats
        n = len(r.classes)
        jitter = rng.normal(0, 3, (n, 4)).astype(np.float32)
        classes = np.where(rng.random(n) < 0.15, rng.integers(0, 4, n), r.classes)
        per_image.append((r.boxes + jitter, rng.random(n).astype(np.float32), classes))
    metrics = {
        fmt: as_array(evaluate_coco(coco_ground_truth(ds), _results_for(ds, per_image)))
        for fmt, ds in sets.items()
    }
    assert 0.2 < metrics["yolo"][0] < 0.95  # a non-trivial score
    np.testing.assert_array_equal(metrics["yolo"], metrics["coco"])
    np.testing.assert_array_equal(metrics["yolo"], metrics["voc"])


def test_bad_predictions_are_reported(shapes: dict[str, Path]) -> None:
    gt = coco_ground_truth(load_dataset(shapes["coco"], "val"))
    good = {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.5}
    with pytest.raises(DataError, match="image id"):
        evaluate_coco(gt, [{**good, "image_id": 999}])
    with pytest.raises(DataError, match="unknown category"):
        evaluate_coco(gt, [{**good, "category_id": 77}])
    with pytest.raises(DataError, match="needs image_id"):
        evaluate_coco(gt, [{"bbox": [0, 0, 1, 1]}])


def test_equals_pycocotools_on_real_coco(shared: Path) -> None:
    gt_json = shared / "data" / "coco_tiny_val2017" / "annotations" / "instances_val2017.json"
    ds = load_dataset(gt_json)
    ours_gt = coco_ground_truth(ds)  # built from our reader, not the JSON itself
    for seed in range(3):
        preds = perturbed(json.loads(gt_json.read_text()), seed)
        np.testing.assert_allclose(
            as_array(evaluate_coco(ours_gt, preds)),
            pycocotools_stats(gt_json, preds),
            atol=1e-4,
            rtol=0,
        )


def test_yolo_txt_and_coco_json_of_the_same_real_images(shared: Path, tmp_path: Path) -> None:
    """coco128 train2017 has both label formats. The official JSON also holds 10 crowd regions
    and segment areas, which YOLO txt cannot express; without them the metrics agree to the
    rounding of YOLO's 6-decimal labels."""
    root = shared / "data" / "coco128_train2017"
    raw = json.loads((root / "annotations" / "instances_train2017.json").read_text())
    plain = {
        **raw,
        "annotations": [
            {**a, "area": a["bbox"][2] * a["bbox"][3]}
            for a in raw["annotations"]
            if not a["iscrowd"]
        ],
    }
    (tmp_path / "plain.json").write_text(json.dumps(plain))
    (tmp_path / "yolo.yaml").write_text(
        yaml.safe_dump({"path": str(root), "val": "images", "names": COCO80_NAMES})
    )
    (tmp_path / "coco.yaml").write_text(
        yaml.safe_dump(
            {"val": {"images": str(root / "images"), "annotations": str(tmp_path / "plain.json")}}
        )
    )
    yolo, coco = load_dataset(tmp_path / "yolo.yaml"), load_dataset(tmp_path / "coco.yaml")
    assert yolo.category_ids == coco.category_ids  # YOLO COCO classes use the 80 -> 91 map
    for seed in range(3):
        preds = perturbed(raw, seed)
        a = as_array(evaluate_coco(coco_ground_truth(yolo), preds))
        b = as_array(evaluate_coco(coco_ground_truth(coco), preds))
        np.testing.assert_allclose(a, b, atol=5e-4, rtol=0)


def _polygon_dataset() -> DetectionDataset:
    from yolov9.data.labels import ImageLabels, LabelReport

    triangle = np.array([[10, 10], [60, 10], [35, 50]], np.float32)
    square = np.array([[70, 20], [110, 20], [110, 60], [70, 60]], np.float32)
    boxes = np.array([[10, 10, 60, 50], [70, 20, 110, 60]], np.float32)
    record = ImageLabels(
        "a.png", 128, 96, boxes, np.array([0, 1]), image_id=1, segments=[triangle, square]
    )
    return DetectionDataset([record], ["tri", "sq"], [1, 2], LabelReport("test"), "coco", "val")


def test_masks_are_scored_with_segm() -> None:
    """The metric scores instance masks (COCO ``segm``) as well as boxes: perfect masks give
    1.0, a mask that misses most of its object lowers mask AP but not box AP."""
    ds = _polygon_dataset()
    gt = coco_ground_truth(ds)
    assert all("segmentation" in a for a in gt["annotations"])
    perfect = [
        {
            "image_id": 1,
            "category_id": a["category_id"],
            "score": 0.9,
            "bbox": a["bbox"],
            "segmentation": a["segmentation"],
        }
        for a in gt["annotations"]
    ]
    assert pytest.approx(1.0) == evaluate_coco(gt, perfect, iou_type="segm").AP
    half = [dict(p) for p in perfect]
    half[1]["segmentation"] = [[70, 20, 80, 20, 80, 60, 70, 60]]  # a quarter of the square
    masks = evaluate_coco(gt, half, iou_type="segm")
    boxes = evaluate_coco(gt, half, iou_type="bbox")
    assert masks.iou_type == "segm"
    assert pytest.approx(0.5) == masks.AP
    assert pytest.approx(1.0) == boxes.AP
    with pytest.raises(DataError, match="segmentation"):
        evaluate_coco(
            gt, [{k: v for k, v in perfect[0].items() if k != "segmentation"}], iou_type="segm"
        )
