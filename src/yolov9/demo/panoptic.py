"""``yolov9 demo --task panoptic``: the panoptic loop on an embedded default, no downloads.

1. generate a world of things over stuff (:mod:`yolov9.data.synthetic_world`: discs, boxes
   and triangles over sky, grass, sand, water and walls) in COCO panoptic format;
2. train YOLOv9-T-pan with PGI on it, validating PQ as it goes;
3. convert the best checkpoint (auxiliary branch removed) and evaluate it: PQ (things and
   stuff), semantic mIoU, box and mask AP;
4. predict on a new, larger scene, save the picture (stuff regions named, things boxed and
   masked) and say what it shows against the scene's truth: the scene's PQ, things found,
   misnamed, missed and false, and each stuff class's IoU.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from yolov9.api import Detector
from yolov9.data.synthetic_world import (
    NAMES,
    THINGS,
    VOID_LABEL,
    make_world_scene,
    thing_boxes,
    write_world,
)
from yolov9.demo.report import describe_scene, scene_report
from yolov9.demo.steps import predict_new_scene, train_demo_model
from yolov9.tasks.base import DemoSpec

log = logging.getLogger(__name__)


def stuff_report(truth: np.ndarray, predicted: np.ndarray, names: list[str]) -> dict[str, float]:
    """IoU of each stuff class present in ``truth`` (category per pixel, void left out)
    against the predicted map (the same categories)."""
    valid = truth != VOID_LABEL
    out = {}
    for c in np.unique(truth[valid]).tolist():
        if names[c] in THINGS:
            continue
        t, p = (truth == c) & valid, (predicted == c) & valid
        out[names[c]] = float((t & p).sum() / max((t | p).sum(), 1))
    return out


def run_panoptic_demo(
    out: Path, settings: DemoSpec, *, seed: int, epochs: int, imgsz: int
) -> dict[str, Any]:
    """The panoptic demo into ``out`` (see the module docstring); returns PQ, mIoU, AP,
    mask AP, the new scene's report and the minutes it took."""
    start = time.perf_counter()
    splits = {"train": settings.train_images, "val": settings.val_images}
    data = write_world(out / "data", splits, (imgsz, imgsz), seed=seed)["coco-panoptic"]
    log.info(
        "1. dataset: %d training and %d validation scenes of things (%s) over stuff (%s), "
        "%d px, COCO panoptic format, in %s",
        settings.train_images,
        settings.val_images,
        ", ".join(THINGS),
        ", ".join(n for n in NAMES if n not in THINGS),
        imgsz,
        data.parent,
    )
    curve, weights = train_demo_model(
        settings, data, out, seed=seed, epochs=epochs, imgsz=imgsz, key="PQ"
    )
    model = Detector.from_pretrained(weights, device="cpu")
    report = model.val(data, device="cpu", out=str(out / "val"), exist_ok=True)
    pan = report.panoptic
    assert pan is not None
    assert pan.panoptic is not None
    assert pan.semantic is not None
    log.info("   the converted model on the validation split:\n%s", pan.summary())
    log.info("   training curves: %s", out / "train" / "results.png")

    # a new scene, larger than the training images, predicted at its own resolution
    rng = np.random.default_rng(seed + 12345)
    size = (imgsz + 96, imgsz + 160)
    image, truth, _, things = make_world_scene(rng, size)
    prediction = predict_new_scene(model.backend, image, out)
    boxes, labels = thing_boxes(things)
    seen = scene_report(
        boxes, labels, prediction.boxes, prediction.labels, prediction.scores, names=THINGS
    )
    assert prediction.semantic is not None
    stuff = stuff_report(truth, prediction.semantic, list(NAMES))
    stuff_iou = ", ".join(f"{k} {v:.2f}" for k, v in stuff.items())
    log.info("%s; stuff IoU: %s", describe_scene(size, seen, "things"), stuff_iou)
    log.info("   picture (stuff named, things boxed and masked): %s", out / "new_scene_pred.jpg")
    minutes = (time.perf_counter() - start) / 60
    log.info("done in %.1f min; everything is in %s", minutes, out)
    figures = pan.figures()
    return {
        **{k: figures.get(k, 0.0) for k in ("PQ", "PQ_th", "PQ_st", "mIoU", "AP", "mask/AP")},
        "first_PQ": curve[0][1] if curve else 0.0,
        "minutes": minutes,
        "scene": seen,
        "stuff": stuff,
    }
