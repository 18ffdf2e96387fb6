"""``make demo`` / ``yolov9 demo``: the whole loop on an embedded default, no downloads.

1. generate a small detection dataset: coloured shapes (4 classes) on textured backgrounds;
2. train YOLOv9-T with PGI on it for a few minutes on the CPU, validating as it goes;
3. convert the best checkpoint (auxiliary branch removed) and evaluate it with COCO mAP;
4. predict on a new scene and save the annotated picture.

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
from yolov9.data.synthetic import make_scene, write_dataset

log = logging.getLogger(__name__)


def run_demo(out: Path, *, seed: int = 0, epochs: int = 30, imgsz: int = 224) -> dict[str, float]:
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    data = write_dataset(
        out / "data", splits={"train": 160, "val": 40}, size=(imgsz, imgsz), seed=seed
    )["yolo"]
    log.info("1. dataset: 160 training and 40 validation images of shapes in %s", data.parent)

    log.info("2. training yolov9-t with PGI for %d epochs (watch AP rise)", epochs)
    result = train(
        model="yolov9-t",
        data=str(data),
        imgsz=imgsz,
        batch=16,
        epochs=epochs,
        seed=seed,
        out=str(out / "train"),
        exist_ok=True,
        val_every=2,  # validate every other epoch to save time
    )
    curve = [(int(r["epoch"]) + 1, r["AP"]) for r in result.history if "AP" in r]
    log.info("   AP50-95 by epoch: %s", "  ".join(f"{e}:{ap:.3f}" for e, ap in curve))

    assert result.best_converted is not None
    log.info("3. converted (no auxiliary branch): %s", result.best_converted)
    detector = Detector.from_pretrained(result.best_converted, device="cpu")
    metrics = detector.val(
        data, batch=16, device="cpu", out=str(out / "val"), exist_ok=True
    ).metrics
    log.info("   COCO metrics of the converted model on the validation split:\n%s", metrics.table())
    log.info("   training curves: %s", out / "train" / "results.png")

    image, _, _ = make_scene(np.random.default_rng(seed + 12345), (imgsz + 96, imgsz + 160))
    scene = out / "new_scene.jpg"
    cv2.imwrite(str(scene), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    prediction = detector.predict(scene, conf=0.3)[0]
    annotated = prediction.save(out / "new_scene_pred.jpg")
    found = ", ".join(f"{r['class_name']} {r['score']:.2f}" for r in prediction.records())
    log.info("4. %d objects found in a new scene: %s", len(prediction), found or "none")
    log.info("   annotated picture: %s", annotated)
    log.info("done in %.1f min; everything is in %s", (time.perf_counter() - start) / 60, out)
    return {"AP": metrics.AP, "AP50": metrics.AP50, "first_AP": curve[0][1] if curve else 0.0}
