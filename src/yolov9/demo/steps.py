"""The steps every demo shares: training the task's network with PGI (step 2) and predicting
the new scene at its own resolution (step 4)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from yolov9.api import Detector, train
from yolov9.demo.report import SCENE_CONF
from yolov9.engine.trainer import TrainResult
from yolov9.inference.backends import InferenceBackend
from yolov9.inference.result import Result
from yolov9.tasks.base import DemoSpec

log = logging.getLogger(__name__)


def train_with_pgi(
    settings: DemoSpec, data: Path, out: Path, *, seed: int, epochs: int, imgsz: int, key: str
) -> tuple[TrainResult, list[tuple[int, float]]]:
    """Train ``settings.model`` on ``data`` into ``out/train``, logging step 2 and the curve
    of ``key`` (the figure that picks the best epoch) by validated epoch."""
    log.info("2. training %s with PGI for %d epochs (watch %s rise)", settings.model, epochs, key)
    result = train(
        model=settings.model,
        data=str(data),
        imgsz=imgsz,
        batch=settings.batch,
        lr0=settings.lr0,
        epochs=epochs,
        seed=seed,
        out=str(out / "train"),
        exist_ok=True,
        val_every=min(settings.val_every, epochs),
    )
    curve = [(int(r["epoch"]) + 1, r[key]) for r in result.history if key in r]
    log.info("   %s by epoch: %s", key, "  ".join(f"{e}:{v:.3f}" for e, v in curve))
    return result, curve


def predict_new_scene(backend: InferenceBackend, image: np.ndarray, out: Path) -> Result:
    """Write ``image`` (RGB) as ``out/new_scene.jpg``, predict it with the same network at its
    own resolution (rounded up to the stride) at :data:`SCENE_CONF`, and save the annotated
    picture as ``out/new_scene_pred.jpg`` (``Result.path`` then names the scene)."""
    scene = out / "new_scene.jpg"
    cv2.imwrite(str(scene), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    at_size = Detector(backend, imgsz=-(-max(image.shape[:2]) // 32) * 32)
    prediction = at_size.predict(scene, conf=SCENE_CONF)[0]
    prediction.save(out / "new_scene_pred.jpg")
    return prediction
