"""Caption metrics: equal to the COCO caption evaluation's scorers (pycocoevalcap, run in its
own environment by ``tools/caption_reference.py``) on the real captions of 79 COCO images, and
hand-checked cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from yolov9.metrics.caption import bleu, cider_d, score_captions, tokenize

FIXTURE = Path(__file__).parent / "data" / "caption_reference.json"


@pytest.mark.parametrize("name", ["human", "reversed", "short"])
def test_equal_to_the_coco_caption_scorers(name: str) -> None:
    data = json.loads(FIXTURE.read_text())
    refs = {k: [r.split() for r in v] for k, v in data["references"].items()}
    cands = {k: v.split() for k, v in data["candidates"][name].items()}
    want = data["scores"][name]
    assert bleu(cands, refs) == pytest.approx(want["BLEU"], abs=1e-9)
    corpus, per_image = cider_d(cands, refs)
    assert corpus == pytest.approx(want["CIDEr-D"], abs=1e-9)
    for key, value in want["CIDEr-D per image"].items():
        assert per_image[key] == pytest.approx(value, abs=1e-9)


def test_tokenize_lowercases_and_drops_punctuation() -> None:
    assert tokenize("A man's Bike, parked by the curb.  ") == [
        "a",
        "man's",
        "bike",
        "parked",
        "by",
        "the",
        "curb",
    ]
    assert tokenize("Two dogs;playing-fetch!") == ["two", "dogs", "playing-fetch"]
    assert tokenize("A T-shirt, 3.5 ft -- in the U.S. ... 'quoted'") == [
        "a",
        "t-shirt",
        "3.5",
        "ft",
        "in",
        "the",
        "u.s",
        "quoted",
    ]


def test_a_perfect_caption() -> None:
    refs = {
        1: [["a", "red", "bus", "on", "a", "street"]],
        2: [["two", "cats", "sleep", "on", "a", "sofa"]],
    }
    cands = {k: v[0] for k, v in refs.items()}
    assert bleu(cands, refs) == pytest.approx((1.0, 1.0, 1.0, 1.0), abs=1e-6)
    corpus, _ = cider_d(cands, refs)
    # each image's n-grams: those it shares with the other get idf 0, the rest match exactly
    assert corpus == pytest.approx(10.0)


def test_no_overlap_scores_nothing() -> None:
    refs = {1: [["a", "red", "bus"]], 2: [["two", "cats"]]}
    cands = {1: ["green", "trees", "grow"], 2: ["one", "dog"]}
    assert max(bleu(cands, refs)) < 1e-6
    assert cider_d(cands, refs)[0] == 0.0


def test_brevity_penalty_uses_the_closest_reference_length() -> None:
    refs = {1: [["a", "cat", "sat", "on", "the", "mat"], ["a", "cat"]]}
    assert bleu({1: ["a", "cat"]}, refs)[0] == pytest.approx(1.0, abs=1e-6)  # closest: 2
    refs = {1: [["a", "cat", "sat", "on", "the", "mat"]]}
    assert bleu({1: ["a", "cat"]}, refs)[0] == pytest.approx(math.exp(1 - 6 / 2), rel=1e-6)


def test_repeated_ngrams_are_clipped() -> None:
    refs = {1: [["the", "cat"]]}
    assert bleu({1: ["the"] * 4}, refs)[0] == pytest.approx(0.25, rel=1e-6)


def test_score_captions_needs_references() -> None:
    scores = score_captions({1: "A red bus."}, {1: ["a red bus", "A bus, red."], 2: ["x"]})
    assert set(scores.as_dict()) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D"}
    with pytest.raises(KeyError, match="image 3"):
        score_captions({3: "a bus"}, {1: ["a bus"]})
