"""Mask AP (COCO ``segm``): equal to pycocotools, identical across label formats, 1 for
perfect masks; bad result files and datasets without masks are refused in one line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from faster_coco_eval.core import mask as coco_mask

from tests.data.seg_scenes import write_seg_dataset
from tests.metrics.test_coco import pycocotools_stats
from yolov9.data.coco80 import COCO80_NAMES
from yolov9.data.dataset import DetectionDataset, load_dataset
from yolov9.errors import ConfigError, DataError
from yolov9.metrics.coco import coco_ground_truth, evaluate_coco, to_coco_results

KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
SIZE_FREE = [0, 1, 2, 6, 7, 8]  # AP, AP50, AP75, AR1, AR10, AR100: independent of areas


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_seg_dataset(tmp_path_factory.mktemp("seg"), images=12)


def as_array(m) -> np.ndarray:
    return np.array([getattr(m, k) for k in KEYS])


def _jitter(polygon: list[float], sigma: float, w: int, h: int, rng) -> list[float]:
    p = np.asarray(polygon, np.float64).reshape(-1, 2) + rng.normal(
        0, sigma, (len(polygon) // 2, 2)
    )
    return np.clip(p, 0, [w, h]).ravel().round(2).tolist()


def _rle(polygons: list[list[float]], w: int, h: int) -> dict:
    rle = coco_mask.merge(coco_mask.frPyObjects(polygons, h, w))
    return {"size": [h, w], "counts": rle["counts"].decode()}


def perturbed_masks(gt: dict, seed: int, with_bbox: bool, drop: float = 0.1, noise: int = 60):
    """Mask predictions made from the ground truth's polygons: vertices jittered, some objects
    dropped, some with a wrong class, random scores, and random false positives. Without
    boxes every mask is an RLE (what COCO's loadRes needs then); with boxes, polygons and
    RLEs alternate."""
    rng = np.random.default_rng(seed)
    cats = [c["id"] for c in gt["categories"]]
    size = {i["id"]: (i["width"], i["height"]) for i in gt["images"]}
    preds = []
    for a in gt["annotations"]:
        if a.get("iscrowd") or not isinstance(a["segmentation"], list) or rng.random() < drop:
            continue
        w, h = size[a["image_id"]]
        sigma = 0.06 * max(a["bbox"][2], a["bbox"][3])
        polygons = [_jitter(p, sigma, w, h, rng) for p in a["segmentation"]]
        cat = a["category_id"] if rng.random() > 0.1 else int(rng.choice(cats))
        pred = {"image_id": a["image_id"], "category_id": cat, "score": float(rng.random())}
        as_polygons = with_bbox and rng.random() < 0.5
        pred["segmentation"] = polygons if as_polygons else _rle(polygons, w, h)
        if with_bbox:
            xy = np.concatenate([np.reshape(p, (-1, 2)) for p in polygons])
            x1, y1 = xy.min(0)
            x2, y2 = xy.max(0)
            pred["bbox"] = [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]
        preds.append(pred)
    for _ in range(noise):
        img = gt["images"][int(rng.integers(len(gt["images"])))]
        w, h = img["width"], img["height"]
        x, y = rng.uniform(0, w * 0.7), rng.uniform(0, h * 0.7)
        s = rng.uniform(5, min(w, h) * 0.3)
        triangle = [x, y, x + s, y, x + s / 2, y + s]
        pred = {"image_id": img["id"], "category_id": int(rng.choice(cats))}
        pred["score"] = float(rng.random() * 0.5)
        pred["segmentation"] = _rle([triangle], w, h)
        if with_bbox:
            pred["bbox"] = [x, y, s, s]
        preds.append(pred)
    return preds


def test_segm_equals_pycocotools_on_generated_data(seg_data: dict[str, Path]) -> None:
    gt = coco_ground_truth(load_dataset(seg_data["coco"]))
    # a crowd region (an RLE) over part of the first image, as COCO has them
    first = gt["images"][0]
    crowd = np.zeros((first["height"], first["width"]), np.uint8)
    crowd[:, : first["width"] // 3] = 1
    rle = coco_mask.encode(np.asfortranarray(crowd))
    gt["annotations"].append(
        {
            "id": 10_000,
            "image_id": first["id"],
            "category_id": 1,
            "bbox": [0, 0, first["width"] // 3, first["height"]],
            "area": float(crowd.sum()),
            "iscrowd": 1,
            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()},
        }
    )
    for seed, with_bbox in ((0, True), (1, False), (2, True)):
        preds = perturbed_masks(gt, seed, with_bbox)
        ours = as_array(evaluate_coco(gt, preds, iou_type="segm"))
        assert 0.1 < ours[0] < 0.9
        np.testing.assert_allclose(ours, pycocotools_stats(gt, preds, "segm"), atol=1e-4, rtol=0)


def _dense_predictions(ds: DetectionDataset, seed: int) -> list[tuple]:
    """Per image: boxes, scores, class indices and dense masks, from the ground truth's
    masks (shifted, some lost, some relabelled)."""
    rng = np.random.default_rng(seed)
    out = []
    for r in ds.records:
        masks = r.instance_masks().astype(bool)
        n = len(masks)
        shift = rng.integers(-2, 3, (n, 2))
        masks = np.stack([np.roll(m, tuple(s), (0, 1)) for m, s in zip(masks, shift, strict=True)])
        keep = rng.random(n) > 0.1
        classes = np.where(rng.random(n) < 0.15, rng.integers(0, 3, n), r.classes)
        out.append((r.boxes[keep], rng.random(n)[keep], classes[keep], masks[keep]))
    return out


def test_every_format_gives_the_same_mask_ap(seg_data: dict[str, Path]) -> None:
    """The same objects as YOLO polygons and COCO polygons give identical metrics; as COCO
    RLEs and VOC instance PNGs too. Between the two pairs the masks are equal (the RLEs are
    COCO's drawing of the polygons) but areas are pixel counts, not polygon areas, so only
    the size-free statistics must agree."""
    sets = {fmt: load_dataset(path) for fmt, path in seg_data.items()}
    per_image = _dense_predictions(sets["coco_rle"], seed=3)
    metrics = {}
    for fmt, ds in sets.items():
        results = []
        for r, (b, s, c, m) in zip(ds.records, per_image, strict=True):
            results += to_coco_results(r.image_id, b, s, c, ds.category_ids, masks=m)
        json.dumps(results)  # JSON-ready: RLE counts are str
        metrics[fmt] = as_array(evaluate_coco(coco_ground_truth(ds), results, iou_type="segm"))
    assert 0.2 < metrics["voc"][0] < 0.95
    np.testing.assert_array_equal(metrics["yolo"], metrics["coco"])
    np.testing.assert_array_equal(metrics["voc"], metrics["coco_rle"])
    np.testing.assert_array_equal(metrics["coco"][SIZE_FREE], metrics["voc"][SIZE_FREE])


def test_perfect_masks_score_one(seg_data: dict[str, Path]) -> None:
    for fmt in ("yolo", "voc"):
        ds = load_dataset(seg_data[fmt])
        results = []
        for r in ds.records:
            scores = np.ones(len(r.classes))
            if fmt == "voc":  # the RLEs themselves, through to_coco_results
                results += to_coco_results(
                    r.image_id, r.boxes, scores, r.classes, ds.category_ids, r.segmentations
                )
                continue
            entries = to_coco_results(r.image_id, r.boxes, scores, r.classes, ds.category_ids)
            for e, seg in zip(entries, r.segmentations, strict=True):  # the polygons
                e["segmentation"] = [p.ravel().tolist() for p in seg]
            results += entries
        m = evaluate_coco(coco_ground_truth(ds), results, iou_type="segm")
        assert (m.AP, m.AP50, m.AP75, m.AR100) == (1.0, 1.0, 1.0, 1.0)


def test_segm_on_a_dataset_without_masks_is_refused(shapes: dict[str, Path]) -> None:
    ds = load_dataset(shapes["coco"], "val")
    assert not ds.has_masks
    gt = coco_ground_truth(ds)
    pred = {"image_id": 1, "category_id": 1, "score": 0.5, "segmentation": [[0, 0, 5, 0, 5, 5]]}
    with pytest.raises(ConfigError, match="the dataset has no masks") as e:
        evaluate_coco(gt, [pred], iou_type="segm")
    assert "\n" not in str(e.value)
    assert evaluate_coco(gt, [], iou_type="bbox").AP == 0.0  # boxes still fine


def test_bad_mask_predictions_name_the_entry(seg_data: dict[str, Path]) -> None:
    gt = coco_ground_truth(load_dataset(seg_data["coco"]))
    image = gt["images"][0]
    h, w = image["height"], image["width"]
    rle = _rle([[0, 0, 20, 0, 20, 20]], w, h)
    good = {"image_id": image["id"], "category_id": 1, "score": 0.5, "segmentation": rle}
    cases = {
        "size [10, 10] is not its image's": _rle([[0, 0, 5, 0, 5, 5]], 10, 10),
        "RLE unusable": {"size": [h, w], "counts": "!!nonsense"},
        "counts sum to": {"size": [h, w], "counts": [3, 4]},
        "x, y pairs of numbers": [[1, 2, 3, 4, 5]],
        "an RLE {size, counts} or a list of polygons": "mask.png",
    }
    for message, seg in cases.items():
        with pytest.raises(DataError, match="prediction #1: .*" + message.replace("[", r"\[")):
            evaluate_coco(gt, [good, {**good, "segmentation": seg}], iou_type="segm")
    with pytest.raises(DataError, match="prediction #1: give every prediction a bbox or none"):
        evaluate_coco(gt, [good, {**good, "bbox": [0, 0, 4, 4]}], iou_type="segm")
    with pytest.raises(DataError, match="prediction #0: needs image_id, category_id, segmentation"):
        evaluate_coco(gt, [{k: v for k, v in good.items() if k != "segmentation"}], iou_type="segm")
    # bbox files are still checked as before, segmentation or not
    boxes = [{**good, "bbox": [0, 0, 4, 4]}]
    assert evaluate_coco(gt, boxes, iou_type="bbox").AP >= 0.0


def test_mask_results_in_every_form() -> None:
    mask = np.zeros((6, 8), bool)
    mask[1:4, 2:6] = True
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))  # counts are bytes
    boxes = np.array([[2, 1, 6, 4]] * 3, np.float32)
    out = to_coco_results(
        7,
        boxes,
        np.ones(3),
        np.zeros(3, int),
        [1],
        masks=[mask, rle, {"size": [6, 8], "counts": [6, 3, 3, 3, 3, 3, 3, 3, 21]}],
    )
    assert [e["segmentation"]["counts"] for e in out[:2]] == [rle["counts"].decode()] * 2
    assert out[2]["segmentation"]["size"] == [6, 8]
    json.dumps(out)
    dense = to_coco_results(
        7, boxes[:2], np.ones(2), np.zeros(2, int), [1], masks=np.stack([mask] * 2)
    )
    assert dense[0]["segmentation"] == out[0]["segmentation"]
    with pytest.raises(ValueError, match="2 masks for 3 detections"):
        to_coco_results(7, boxes, np.ones(3), np.zeros(3, int), [1], masks=[mask, mask])


# ----------------------------------------------------------------- real COCO (../shared)
def _coco_tiny(shared: Path) -> Path:
    return shared / "data" / "coco_tiny_val2017" / "annotations" / "instances_val2017.json"


def test_segm_equals_pycocotools_on_real_coco(shared: Path) -> None:
    raw = json.loads(_coco_tiny(shared).read_text())
    ds = load_dataset(_coco_tiny(shared))
    assert ds.has_masks
    ours_gt = coco_ground_truth(ds)  # multi-part polygons and crowd RLEs, from our reader
    for seed, with_bbox in ((0, False), (1, True), (2, False)):
        preds = perturbed_masks(raw, seed, with_bbox)
        np.testing.assert_allclose(
            as_array(evaluate_coco(ours_gt, preds, iou_type="segm")),
            pycocotools_stats(raw, preds, "segm"),
            atol=1e-4,
            rtol=0,
        )


def test_perfect_masks_score_one_on_real_coco(shared: Path) -> None:
    gt = coco_ground_truth(load_dataset(_coco_tiny(shared)))
    perfect = [
        {k: a[k] for k in ("image_id", "category_id", "bbox", "segmentation")} | {"score": 1.0}
        for a in gt["annotations"]
        if not a["iscrowd"]
    ]
    m = evaluate_coco(gt, perfect, iou_type="segm")
    assert (m.AP, m.AP50, m.AP75, m.AR100) == (1.0, 1.0, 1.0, 1.0)


def test_yolo_polygons_and_coco_json_give_identical_mask_ap(shared: Path, tmp_path: Path) -> None:
    """coco_tiny's objects written as YOLO polygon labels and as a COCO JSON holding exactly
    what the labels hold: single-polygon, non-crowd objects (YOLO has neither parts nor crowd
    regions), at the float32 pixel values the YOLO reader computes, no ``area``."""
    raw = json.loads(_coco_tiny(shared).read_text())
    images_dir = _coco_tiny(shared).parents[1] / "images"
    index = {cid: k for k, cid in enumerate(sorted(c["id"] for c in raw["categories"]))}
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    lines: dict[int, list[str]] = {i["id"]: [] for i in raw["images"]}
    size = {i["id"]: (i["width"], i["height"]) for i in raw["images"]}
    anns = []
    for a in raw["annotations"]:
        if a["iscrowd"] or len(a["segmentation"]) != 1:
            continue
        w, h = size[a["image_id"]]
        normalised = np.float32(np.reshape(a["segmentation"][0], (-1, 2)) / [w, h])
        pixels = (normalised * np.array([w, h], np.float32)).astype(np.float64)
        lines[a["image_id"]].append(
            f"{index[a['category_id']]} " + " ".join(map(repr, normalised.ravel().tolist()))
        )
        x1, y1 = pixels.min(0)
        x2, y2 = pixels.max(0)
        anns.append(
            {
                "id": a["id"],
                "image_id": a["image_id"],
                "category_id": a["category_id"],
                "iscrowd": 0,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "segmentation": [pixels.ravel().tolist()],
            }
        )
    for img in raw["images"]:
        os.symlink(images_dir / img["file_name"], tmp_path / "images" / img["file_name"])
        (tmp_path / "labels" / img["file_name"]).with_suffix(".txt").write_text(
            "\n".join(lines[img["id"]])
        )
    (tmp_path / "coco.json").write_text(json.dumps({**raw, "annotations": anns}))
    (tmp_path / "yolo.yaml").write_text(
        yaml.safe_dump({"path": str(tmp_path), "val": "images", "names": COCO80_NAMES})
    )
    (tmp_path / "coco.yaml").write_text(
        yaml.safe_dump(
            {
                "val": {
                    "images": str(tmp_path / "images"),
                    "annotations": str(tmp_path / "coco.json"),
                }
            }
        )
    )
    yolo, coco = load_dataset(tmp_path / "yolo.yaml"), load_dataset(tmp_path / "coco.yaml")
    assert yolo.has_masks
    assert coco.has_masks
    assert yolo.report.boxes == coco.report.boxes == len(anns) > 700
    for seed in range(2):
        preds = perturbed_masks(raw, seed, with_bbox=bool(seed))
        a = as_array(evaluate_coco(coco_ground_truth(yolo), preds, iou_type="segm"))
        b = as_array(evaluate_coco(coco_ground_truth(coco), preds, iou_type="segm"))
        assert 0.1 < a[0] < 0.9
        np.testing.assert_array_equal(a, b)
