"""``make demo`` / ``yolov9 demo [--task segment]``: the whole loop on an embedded default,
no downloads.

1. generate a small dataset: coloured shapes (4 classes) on textured backgrounds (detection),
   or with exact polygon masks on generated photo-like backgrounds (segmentation);
2. train YOLOv9-T (``yolov9-t-seg``) with PGI on it for a few minutes on the CPU, validating
   as it goes;
3. convert the best checkpoint (auxiliary branch removed) and evaluate it with COCO mAP (box
   and mask AP for segmentation);
4. predict on a new, larger scene at its own resolution, save the annotated picture, and say
   what it shows against the scene's truth: shapes found and correctly named at the
   confidence shown, shapes missed, false detections.

It uses the default recipe, which for a run this short picks AdamW without gradient
accumulation and lighter augmentation instead of the paper's SGD recipe
(``yolov9.engine.recipes``); the detection demo raises its learning rate and halves its batch
(more steps in the same time). Measured on three seeds: docs/benchmarks.md, "The demo".
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from yolov9.api import Detector
from yolov9.data.synthetic import write_dataset
from yolov9.demo.report import describe_scene, scene_report
from yolov9.demo.steps import predict_new_scene, train_demo_model
from yolov9.errors import ConfigError
from yolov9.tasks.base import DemoSpec
from yolov9.tasks.registry import TASKS, get_task

log = logging.getLogger(__name__)


# what each task's demo runs (``Task.demo``: network, schedule, generated data, new scene)
SETTINGS: dict[str, DemoSpec] = {n: t.demo for n, t in TASKS.items() if t.demo is not None}


def run_demo(
    out: Path,
    *,
    seed: int = 0,
    epochs: int | None = None,
    imgsz: int | None = None,
    task: str = "detect",
) -> dict[str, Any]:
    """Run the demo into ``out``; ``epochs`` and ``imgsz`` override the task's
    :data:`SETTINGS`. Returns the AP (and mask AP) of the model step 3 names, and the scene
    report."""
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    spec = get_task(task)
    if spec.demo is None:
        raise ConfigError(f"there is no embedded demo for {spec.description} yet")
    settings = spec.demo
    imgsz = imgsz or settings.imgsz
    epochs = epochs or settings.epochs
    if spec.gives("panoptic") and spec.gives("caption"):  # every task from one network
        from yolov9.demo.all import run_all_demo

        return run_all_demo(out, settings, seed=seed, epochs=epochs, imgsz=imgsz)
    if spec.gives("panoptic"):  # things over stuff, scored by PQ
        from yolov9.demo.panoptic import run_panoptic_demo

        return run_panoptic_demo(out, settings, seed=seed, epochs=epochs, imgsz=imgsz)
    if spec.gives("caption"):  # shapes and their captions, scored by CIDEr-D
        from yolov9.demo.caption import run_caption_demo

        return run_caption_demo(out, settings, seed=seed, epochs=epochs, imgsz=imgsz)
    data = write_dataset(
        out / "data",
        splits={"train": settings.train_images, "val": settings.val_images},
        size=(imgsz, imgsz),
        seed=seed,
        masks=settings.masks,
    )["yolo"]
    kind = "shapes with polygon masks" if settings.masks else "shapes"
    log.info(
        "1. dataset: %d training and %d validation images of %s (%d px) in %s",
        settings.train_images,
        settings.val_images,
        kind,
        imgsz,
        data.parent,
    )

    curve, weights = train_demo_model(
        settings, data, out, seed=seed, epochs=epochs, imgsz=imgsz, key=spec.fitness
    )
    detector = Detector.from_pretrained(weights, device="cpu")
    report = detector.val(data, batch=16, device="cpu", out=str(out / "val"), exist_ok=True)
    metrics = report.metrics
    log.info("   COCO box metrics of that model on the validation split:\n%s", metrics.table())
    if report.mask_metrics is not None:
        log.info("   COCO mask metrics:\n%s", report.mask_metrics.table())
    log.info("   training curves: %s", out / "train" / "results.png")

    # a new scene, larger than the training images, predicted at its own resolution
    rng = np.random.default_rng(seed + 12345)
    size = (imgsz + 96, imgsz + 160)
    image, boxes, labels = settings.scene(rng, size, imgsz / 5)
    prediction = predict_new_scene(detector.backend, image, out)
    seen = scene_report(boxes, labels, prediction.boxes, prediction.labels, prediction.scores)
    log.info("%s", describe_scene(size, seen))
    log.info("   annotated picture: %s", out / "new_scene_pred.jpg")
    minutes = (time.perf_counter() - start) / 60
    log.info("done in %.1f min; everything is in %s", minutes, out)
    summary: dict[str, Any] = {
        "AP": metrics.AP,
        "AP50": metrics.AP50,
        "first_AP": curve[0][1] if curve else 0.0,
        "minutes": minutes,
        "scene": seen,
    }
    if report.mask_metrics is not None:
        summary.update({"mask/AP": report.mask_metrics.AP, "mask/AP50": report.mask_metrics.AP50})
    return summary
