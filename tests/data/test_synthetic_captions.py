"""The generated caption data: five captions per scene that say what is drawn (every shape's
colour and kind, the count, where one shape is relative to the other), read back by the
caption reader."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from yolov9.data.captions import caption_split
from yolov9.data.synthetic_captions import COLOURS, make_caption_scene, write_caption_dataset


def test_captions_say_what_is_drawn() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        image, objects, captions = make_caption_scene(rng, (96, 128))
        assert len(captions) == 5
        assert len(set(captions)) == 5
        for o in objects:  # the shape is drawn in its colour at its centre
            assert tuple(image[o["cy"], o["cx"]]) == COLOURS[o["colour"]]
            assert any(f"{o['colour']} {o['shape']}" in c for c in captions)
        if len(objects) == 2:
            a, b = objects
            relation = next(c for c in captions if re.search(r"left of|right of|above|below", c))
            first = relation.split(" ")[1:3]
            left_of = a["cx"] < b["cx"] if first == [a["colour"], a["shape"]] else b["cx"] < a["cx"]
            if "left of" in relation:
                assert left_of
            if "right of" in relation:
                assert not left_of


def test_written_as_a_caption_split(tmp_path: Path) -> None:
    data = write_caption_dataset(tmp_path, {"train": 6, "val": 2})
    train = caption_split(data, "train")
    assert train is not None
    assert len(train) == 6
    assert all(len(c) == 5 for c in train.captions.values())
    assert not train.problems
    assert train.images_dir == tmp_path / "images" / "train"
    assert len(list(train.images_dir.glob("*.png"))) == 6
