"""``yolov9 demo --task all``: every task from one network, on an embedded default, no
downloads.

1. generate a world of things over stuff (:mod:`yolov9.data.synthetic_world`) with five
   captions per scene that say what it holds (:mod:`yolov9.data.synthetic_world_captions`),
   as COCO panoptic labels and COCO captions of one image folder;
2. train YOLOv9-T-all with PGI on it (boxes, instance masks, semantic map and captions),
   validating every task as it goes (the best epoch by their mean);
3. convert the best checkpoint (auxiliary branch removed) and evaluate it: PQ, mIoU, box and
   mask AP, BLEU and CIDEr-D in one report;
4. predict a new scene in one forward pass, save the picture (stuff named, things boxed and
   masked, the caption written on it) and say what it shows against the scene's truth:
   things found and missed, each stuff class's IoU, the caption beside the scene's five
   references.
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
    STUFF,
    THINGS,
    make_world_scene,
    thing_boxes,
    write_world,
)
from yolov9.data.synthetic_world_captions import world_captions
from yolov9.demo.panoptic import stuff_report
from yolov9.demo.report import describe_scene, scene_report
from yolov9.demo.steps import predict_new_scene, train_demo_model
from yolov9.engine.all_validator import FITNESS
from yolov9.metrics.caption import score_captions, tokenize
from yolov9.tasks.base import DemoSpec

log = logging.getLogger(__name__)


def run_all_demo(
    out: Path, settings: DemoSpec, *, seed: int, epochs: int, imgsz: int
) -> dict[str, Any]:
    """The all-task demo into ``out`` (module docstring); returns every validation figure,
    the new scene's report and caption, and the minutes it took."""
    start = time.perf_counter()
    splits = {"train": settings.train_images, "val": settings.val_images}
    data = write_world(out / "data", splits, (imgsz, imgsz), seed=seed, captions=True)["all"]
    log.info(
        "1. dataset: %d training and %d validation scenes of things (%s) over stuff (%s), "
        "%d px, five captions each, as COCO panoptic and COCO captions, in %s",
        settings.train_images,
        settings.val_images,
        ", ".join(THINGS),
        ", ".join(STUFF),
        imgsz,
        data.parent,
    )
    curve, weights = train_demo_model(
        settings, data, out, seed=seed, epochs=epochs, imgsz=imgsz, key=FITNESS
    )
    model = Detector.from_pretrained(weights, device="cpu")
    report = model.val(data, device="cpu", imgsz=imgsz, out=str(out / "val"), exist_ok=True)
    assert report.panoptic is not None
    assert report.captions is not None
    captions = report.captions.as_dict()
    log.info("   the converted model on the validation split:\n%s", report.panoptic.summary())
    log.info("   its captions (beam 5): %s", "  ".join(f"{k} {v:.3f}" for k, v in captions.items()))
    log.info("   training curves: %s", out / "train" / "results.png")

    # a new scene of the training size: every output from one forward pass
    rng = np.random.default_rng(seed + 12345)
    image, truth, _, things = make_world_scene(rng, (imgsz, imgsz))
    references = world_captions(truth, things, NAMES, rng)
    prediction = predict_new_scene(model.backend, image, out)
    boxes, labels = thing_boxes(things)
    seen = scene_report(
        boxes, labels, prediction.boxes, prediction.labels, prediction.scores, names=THINGS
    )
    assert prediction.semantic is not None
    stuff = stuff_report(truth, prediction.semantic, list(NAMES))
    caption = prediction.caption or ""
    bleu4 = score_captions({0: caption}, {0: references}).bleu[3]
    exact = tokenize(caption) in [tokenize(r) for r in references]
    log.info(
        "%s; stuff IoU: %s",
        describe_scene((imgsz, imgsz), seen, "things"),
        ", ".join(f"{k} {v:.2f}" for k, v in stuff.items()),
    )
    log.info("   caption %r (score %.2f)", caption, prediction.caption_score or 0.0)
    log.info("   its five references: %s", " | ".join(references))
    log.info(
        "   BLEU-4 of the caption against them: %.3f%s",
        bleu4,
        " (it is one of them, word for word)" if exact else "",
    )
    log.info(
        "   picture (stuff named, things boxed and masked, the caption on it): %s",
        out / "new_scene_pred.jpg",
    )
    minutes = (time.perf_counter() - start) / 60
    log.info("done in %.1f min; everything is in %s", minutes, out)
    figures = report.panoptic.figures()
    return {
        **{k: figures.get(k, 0.0) for k in ("PQ", "PQ_th", "PQ_st", "mIoU", "AP", "mask/AP")},
        "BLEU-4": captions["BLEU-4"],
        "CIDEr-D": captions["CIDEr-D"],
        f"first_{FITNESS}": curve[0][1] if curve else 0.0,
        "minutes": minutes,
        "scene": seen,
        "stuff": stuff,
        "caption": caption,
        "references": references,
        "scene_BLEU-4": bleu4,
        "scene_exact": exact,
    }
