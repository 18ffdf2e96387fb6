"""The steps every demo shares: training the task's network (step 2), the weights inference
uses (step 3) and predicting the new scene at its own resolution (step 4)."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from yolov9.api import Detector, train
from yolov9.demo.report import SCENE_CONF
from yolov9.inference.backends import InferenceBackend
from yolov9.inference.result import Result
from yolov9.models import parse_model_name
from yolov9.tasks.base import DemoSpec

log = logging.getLogger(__name__)


def train_demo_model(
    settings: DemoSpec, data: Path, out: Path, *, seed: int, epochs: int, imgsz: int, key: str
) -> tuple[list[tuple[int, float]], Path]:
    """Train ``settings.model`` on ``data`` into ``out/train``, logging step 2 and the curve
    of ``key`` (the figure that picks the best epoch) by validated epoch, then step 3: the
    best checkpoint without its auxiliary branch (PGI networks) or as it is (GELAN ones).
    Returns the curve and the weights to predict with."""
    with_pgi = " with PGI" if parse_model_name(settings.model).with_aux else ""
    name = settings.model
    log.info("2. training %s%s for %d epochs (watch %s rise)", name, with_pgi, epochs, key)
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
    if result.best_converted is not None:
        log.info("3. converted (no auxiliary branch): %s", result.best_converted)
        return curve, result.best_converted
    assert result.best is not None
    log.info("3. best checkpoint (GELAN: no auxiliary branch to remove): %s", result.best)
    return curve, result.best


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
