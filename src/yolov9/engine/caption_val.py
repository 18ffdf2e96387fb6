"""Scoring captions (BLEU-1..4 and CIDEr-D, :mod:`yolov9.metrics.caption`): a COCO caption
results file against a captions split, on the images the file captions, as the COCO caption
evaluation scores the images of its results; or a caption model run on the split's images."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from yolov9.data.caption_training import CaptionTraining
from yolov9.data.captions import CaptionSet, read_caption_results
from yolov9.data.images import read_image
from yolov9.data.sources import Frame
from yolov9.errors import DataError
from yolov9.inference.backends import InferenceBackend
from yolov9.inference.predictor import Predictor
from yolov9.metrics.caption import CaptionScores, score_captions
from yolov9.tasks.registry import get_task

log = logging.getLogger(__name__)


def score_caption_file(truth: CaptionSet, results: str | Path) -> CaptionScores:
    """BLEU-1..4 and CIDEr-D of the captions in ``results`` against ``truth``'s references."""
    candidates = read_caption_results(results, truth)
    return score_captions(candidates, {k: truth.captions[k] for k in candidates})


def caption_summary(scores: CaptionScores, images: int) -> str:
    """One line: the image count and the five scores as the COCO tool reports them."""
    values = "  ".join(f"{k} {v:.4f}" for k, v in scores.as_dict().items())
    return f"{images} images captioned: {values}"


def caption_split_images(
    backend: InferenceBackend,
    split: CaptionTraining,
    *,
    imgsz: int,
    batch_size: int = 8,
    progress: bool = True,
) -> dict[Any, str]:
    """The caption a model gives each readable image of ``split`` (image id -> caption), as
    ``yolov9 predict`` gives it; unreadable images are counted and skipped."""
    if not get_task(backend.task).gives("caption"):
        raise DataError(
            f"{split.truth.source} is caption data, but {backend.describe()} does "
            f"{backend.task}: give a caption model (e.g. trained from yolov9-t-cap)"
        )
    ids = split.image_ids
    paths = [str(r.path) for r in split.dataset.records]
    skipped: list[str] = []

    def frames() -> Iterator[Frame]:
        for path in paths:
            try:
                yield Frame(read_image(path), path)
            except DataError as e:
                skipped.append(str(e))

    by_path = dict(zip(paths, ids, strict=True))
    out: dict[Any, str] = {}
    predictor = Predictor(backend, imgsz=imgsz)
    results = predictor(frames(), batch_size=batch_size)
    for result in tqdm(results, total=len(paths), desc="captions", disable=not progress):
        assert result.path is not None
        out[by_path[result.path]] = result.caption or ""
    if skipped:
        log.warning("%d unreadable image(s) not captioned (e.g. %s)", len(skipped), skipped[0])
    return out


def score_model_captions(
    backend: InferenceBackend,
    split: CaptionTraining,
    *,
    imgsz: int,
    batch_size: int = 8,
    progress: bool = True,
) -> tuple[CaptionScores, dict[Any, str]]:
    """BLEU-1..4 and CIDEr-D of a caption model on ``split``, and its captions."""
    captions = caption_split_images(
        backend, split, imgsz=imgsz, batch_size=batch_size, progress=progress
    )
    if not captions:
        raise DataError(f"{split.truth.source}: no image could be captioned")
    refs = {k: split.truth.captions[k] for k in captions}
    return score_captions(captions, refs), captions
