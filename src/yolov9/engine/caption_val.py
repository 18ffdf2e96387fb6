"""Scoring captions: a COCO caption results file against a captions split (BLEU-1..4 and
CIDEr-D, :mod:`yolov9.metrics.caption`), on the images the file captions, as the COCO caption
evaluation scores the images of its results."""

from __future__ import annotations

from pathlib import Path

from yolov9.data.captions import CaptionSet, read_caption_results
from yolov9.metrics.caption import CaptionScores, score_captions


def score_caption_file(truth: CaptionSet, results: str | Path) -> CaptionScores:
    """BLEU-1..4 and CIDEr-D of the captions in ``results`` against ``truth``'s references."""
    candidates = read_caption_results(results, truth)
    return score_captions(candidates, {k: truth.captions[k] for k in candidates})


def caption_summary(scores: CaptionScores, images: int) -> str:
    """One line: the image count and the five scores as the COCO tool reports them."""
    values = "  ".join(f"{k} {v:.4f}" for k, v in scores.as_dict().items())
    return f"{images} images captioned: {values}"
