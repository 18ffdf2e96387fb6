"""``make demo`` / ``yolov9 demo [--task segment]``: the whole loop on an embedded default,
no downloads.

1. generate a small dataset: coloured shapes (4 classes) on textured backgrounds (detection),
   or with exact polygon masks on generated photo-like backgrounds (segmentation);
2. train YOLOv9-T (``yolov9-t-seg``) with PGI on it for a few minutes on the CPU, validating
   as it goes;
3. convert the best checkpoint (auxiliary branch removed) and evaluate it with COCO mAP (box
   and mask AP for segmentation);
4. predict on a new scene and save the annotated picture (masks drawn for segmentation).

It uses the default recipe, which for a run this short picks AdamW without gradient
accumulation and lighter augmentation instead of the paper's SGD recipe (``yolov9.engine.recipes``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from yolov9.api import Detector, train
from yolov9.data.synthetic import make_photo, make_scene, make_segment_scene, write_dataset

log = logging.getLogger(__name__)


def run_demo(
    out: Path, *, seed: int = 0, epochs: int = 30, imgsz: int = 224, task: str = "detect"
) -> dict[str, float]:
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    segment = task == "segment"
    data = write_dataset(
        out / "data",
        splits={"train": 160, "val": 40},
        size=(imgsz, imgsz),
        seed=seed,
        masks=segment,
    )["yolo"]
    kind = "shapes with polygon masks" if segment else "shapes"
    log.info("1. dataset: 160 training and 40 validation images of %s in %s", kind, data.parent)

    model = "yolov9-t-seg" if segment else "yolov9-t"
    key = "mask/AP" if segment else "AP"
    log.info("2. training %s with PGI for %d epochs (watch %s rise)", model, epochs, key)
    result = train(
        model=model,
        data=str(data),
        imgsz=imgsz,
        batch=16,
        epochs=epochs,
        seed=seed,
        out=str(out / "train"),
        exist_ok=True,
        val_every=2,  # validate every other epoch to save time
    )
    curve = [(int(r["epoch"]) + 1, r[key]) for r in result.history if key in r]
    log.info("   %s (50-95) by epoch: %s", key, "  ".join(f"{e}:{ap:.3f}" for e, ap in curve))

    assert result.best_converted is not None
    log.info("3. converted (no auxiliary branch): %s", result.best_converted)
    detector = Detector.from_pretrained(result.best_converted, device="cpu")
    report = detector.val(data, batch=16, device="cpu", out=str(out / "val"), exist_ok=True)
    metrics = report.metrics
    log.info(
        "   COCO box metrics of the converted model on the validation split:\n%s", metrics.table()
    )
    if report.mask_metrics is not None:
        log.info("   COCO mask metrics:\n%s", report.mask_metrics.table())
    log.info("   training curves: %s", out / "train" / "results.png")

    rng = np.random.default_rng(seed + 12345)
    size = (imgsz + 96, imgsz + 160)
    if segment:
        image = make_segment_scene(rng, size, photo=make_photo(rng, (2 * size[0], 2 * size[1])))[0]
    else:
        image = make_scene(rng, size)[0]
    scene = out / "new_scene.jpg"
    cv2.imwrite(str(scene), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    prediction = detector.predict(scene, conf=0.3)[0]
    annotated = prediction.save(out / "new_scene_pred.jpg")
    found = ", ".join(f"{r['class_name']} {r['score']:.2f}" for r in prediction.records())
    log.info("4. %d objects found in a new scene: %s", len(prediction), found or "none")
    log.info("   annotated picture: %s", annotated)
    log.info("done in %.1f min; everything is in %s", (time.perf_counter() - start) / 60, out)
    summary = {"AP": metrics.AP, "AP50": metrics.AP50, "first_AP": curve[0][1] if curve else 0.0}
    if report.mask_metrics is not None:
        summary.update({"mask/AP": report.mask_metrics.AP, "mask/AP50": report.mask_metrics.AP50})
    return summary
