"""The caption vocabulary: learnt from captions, normalised as the caption metrics tokenise,
framed by BOS/EOS, rebuilt bit for bit from its bytes (what a checkpoint keeps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yolov9.errors import DataError
from yolov9.tasks.caption.tokenizer import BOS, EOS, PAD, UNK, CaptionTokenizer, normalize

CAPTIONS = [
    f"A {colour} {shape} {where} the {other}."
    for colour in ("red", "green", "blue", "yellow")
    for shape in ("circle", "square", "triangle", "star")
    for where in ("left of", "right of", "above", "below")
    for other in ("circle", "square")
]


@pytest.fixture(scope="module")
def tok() -> CaptionTokenizer:
    return CaptionTokenizer.train(CAPTIONS, vocab_size=120)


def test_round_trip_and_framing(tok: CaptionTokenizer) -> None:
    ids = tok.encode("A Red circle, left of the SQUARE!")
    assert ids[0] == BOS
    assert ids[-1] == EOS
    assert min(ids[1:-1]) > EOS  # learnt pieces only
    assert tok.decode(ids) == "a red circle left of the square"
    assert tok.decode([BOS, *ids[1:-1], EOS, 57, 58]) == tok.decode(ids)  # stops at EOS
    assert tok.decode([PAD, *ids, PAD]) == tok.decode(ids)
    assert tok.encode("red", bos=False, eos=False)[0] > EOS


def test_unknown_characters_map_to_unk(tok: CaptionTokenizer) -> None:
    assert UNK in tok.encode("a red zebra", bos=False, eos=False)  # no 'z' in the captions


def test_rebuilt_from_its_bytes(tok: CaptionTokenizer) -> None:
    again = CaptionTokenizer(tok.model_bytes)
    assert len(again) == len(tok) <= 120
    for caption in CAPTIONS[::7]:
        assert again.encode(caption) == tok.encode(caption)


def test_no_words_is_one_line() -> None:
    with pytest.raises(DataError, match="no caption with a word"):
        CaptionTokenizer.train(["", " ?! ", "..."])


def test_the_real_coco_captions_round_trip(shared: Path) -> None:
    path = shared / "data" / "coco_mini_val2017_captions" / "captions_val2017.json"
    captions = [a["caption"] for a in json.loads(path.read_text())["annotations"]]
    tok = CaptionTokenizer.train(captions, vocab_size=600)
    for caption in captions:
        assert tok.decode(tok.encode(caption)) == normalize(caption)
