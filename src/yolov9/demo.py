"""``make demo`` / ``yolov9 demo``: the embedded end-to-end run (no downloads, no data).

Builds YOLOv9-T (training graph, PGI branch included), removes the auxiliary branch, checks
that the main head's output is unchanged, saves the converted checkpoint, predicts on a
generated scene and writes the annotated picture. The model is untrained, so its detections
are not meaningful yet; training arrives with ``yolov9 train``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.data.synthetic import SHAPES, make_scene
from yolov9.models import build_model
from yolov9.utils.summary import format_summary, model_summary

log = logging.getLogger(__name__)


def run_demo(out: Path, *, seed: int = 0) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = build_model("yolov9-t", num_classes=len(SHAPES))
    log.info(format_summary(model_summary(model, 640)))

    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        before = model.eval()(x).main
        model.drop_aux()
        after = model(x).main
    same = torch.equal(before.pred_dist, after.pred_dist) and torch.equal(
        before.pred_logits, after.pred_logits
    )
    log.info("removed the PGI auxiliary branch: %s; main head bit-identical: %s", model.name, same)
    ckpt = save_checkpoint(out / "gelan-t-shapes.pt", model, list(SHAPES), meta={"imgsz": 256})

    image, _, _ = make_scene(np.random.default_rng(seed), (256, 320))
    scene = out / "scene.jpg"
    cv2.imwrite(str(scene), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    detector = Detector.from_pretrained(ckpt, device="cpu")
    result = detector.predict(scene, conf=0.01)[0]
    annotated = result.save(out / "scene_pred.jpg")
    log.info(
        "saved %s; %d detections (untrained weights) drawn in %s", ckpt, len(result), annotated
    )
