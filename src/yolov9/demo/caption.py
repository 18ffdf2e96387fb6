"""``yolov9 demo --task caption``: the caption loop on an embedded default, no downloads.

1. generate scenes of one to three coloured shapes, each with five reference captions from
   varied templates (what and how many, colours, left of / right of / above / below) and the
   shapes' boxes (:mod:`yolov9.data.synthetic_captions`), as a COCO captions split;
2. train YOLOv9-T-cap with PGI on it (boxes and captions), validating CIDEr-D as it goes;
3. convert the best checkpoint (auxiliary branch removed) and evaluate it: BLEU-1..4 and
   CIDEr-D of its captions (beam search) on the validation split;
4. caption a new scene, save the picture with the caption written on it, and print the
   caption beside the scene's five references with its BLEU-4 against them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from yolov9.api import Detector
from yolov9.data.synthetic_captions import make_caption_scene, write_caption_dataset
from yolov9.demo.steps import predict_new_scene, train_demo_model
from yolov9.metrics.caption import score_captions, tokenize
from yolov9.tasks.base import DemoSpec

log = logging.getLogger(__name__)


def run_caption_demo(
    out: Path, settings: DemoSpec, *, seed: int, epochs: int, imgsz: int
) -> dict[str, Any]:
    """The caption demo into ``out`` (module docstring); returns BLEU-4, CIDEr-D, the new
    scene's caption and references, and the minutes it took."""
    start = time.perf_counter()
    size = (imgsz * 3 // 4, imgsz)
    splits = {"train": settings.train_images, "val": settings.val_images}
    data = write_caption_dataset(out / "data", splits, size, seed=seed)
    log.info(
        "1. dataset: %d training and %d validation scenes of coloured shapes (%dx%d px), five "
        "captions each, as COCO captions with the shapes' boxes, in %s",
        settings.train_images,
        settings.val_images,
        size[1],
        size[0],
        data.parent,
    )
    curve, weights = train_demo_model(
        settings, data, out, seed=seed, epochs=epochs, imgsz=imgsz, key="CIDEr-D"
    )
    model = Detector.from_pretrained(weights, device="cpu")
    report = model.val(data, device="cpu", imgsz=imgsz, out=str(out / "val"), exist_ok=True)
    assert report.captions is not None
    scores = report.captions.as_dict()
    log.info(
        "   the converted model on the validation split (beam 5): %s",
        "  ".join(f"{k} {v:.3f}" for k, v in scores.items()),
    )
    log.info("   training curves: %s", out / "train" / "results.png")

    rng = np.random.default_rng(seed + 12345)
    image, _, references = make_caption_scene(rng, size)
    prediction = predict_new_scene(model.backend, image, out)
    caption = prediction.caption or ""
    # one image: CIDEr-D's document frequencies need a corpus (over one image every n-gram
    # is in every document and weighs nothing), so the scene gets BLEU-4 and a word-for-word
    # check instead
    bleu4 = score_captions({0: caption}, {0: references}).bleu[3]
    exact = tokenize(caption) in [tokenize(r) for r in references]
    log.info(
        "4. a new scene (%dx%d): caption %r (score %.2f)",
        size[1],
        size[0],
        caption,
        prediction.caption_score or 0.0,
    )
    log.info("   its five references: %s", " | ".join(references))
    log.info(
        "   BLEU-4 of this caption against them: %.3f%s",
        bleu4,
        " (it is one of them, word for word)" if exact else "",
    )
    log.info("   picture (caption written on it, shapes boxed): %s", out / "new_scene_pred.jpg")
    minutes = (time.perf_counter() - start) / 60
    log.info("done in %.1f min; everything is in %s", minutes, out)
    return {
        "BLEU-4": scores["BLEU-4"],
        "CIDEr-D": scores["CIDEr-D"],
        "first_CIDEr-D": curve[0][1] if curve else 0.0,
        "caption": caption,
        "references": references,
        "scene_BLEU-4": bleu4,
        "scene_exact": exact,
        "minutes": minutes,
    }
