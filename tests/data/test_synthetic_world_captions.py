"""The generated world's captions: five per scene that say which things there are, how
many, where the first two stand relative to each other and which stuff is there; the
scenes are the same with or without captions; the all-task data YAML reads as panoptic
and caption data of the same images."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from yolov9.data.caption_training import caption_training_split, captions_for
from yolov9.data.panoptic_training import panoptic_training_split
from yolov9.data.synthetic_world import NAMES, THINGS, make_world_scene, write_world
from yolov9.data.synthetic_world_captions import world_captions

NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4}


def test_captions_say_what_the_scene_holds() -> None:
    rng = np.random.default_rng(0)
    for _ in range(40):
        _, label, _, things = make_world_scene(rng, (96, 96))
        captions = world_captions(label, things, NAMES, rng)
        assert len(captions) == 5
        assert len(set(captions)) == 5
        present = {NAMES[c] for c in np.unique(label) if c < len(NAMES)}
        ground = "sand" if "sand" in present else "grass"
        assert any(c.endswith(f"on {ground}") for c in captions)
        for stuff in ("water", "wall"):
            assert any(stuff in c for c in captions) == (stuff in present)
        counted = next(c for c in captions if re.match(r"(one|two|three|four) things? on", c))
        assert NUMBERS[counted.split()[0]] == len(things)
        listed = next(c for c in captions if c.startswith("a ") and " scene with " in c)
        kinds = re.findall(r"(a|two|three|four) (disc|box|triangle)", listed.split(" with ")[1])
        counts = {kind: NUMBERS[n] for n, kind in kinds}
        assert counts == {k: sum(THINGS[c] == k for c, _ in things) for k in counts}
        assert sum(counts.values()) == len(things)
        if len(things) >= 2:
            relation = next(c for c in captions if re.search(r"left of|right of|above|below", c))
            assert relation.split()[1] in THINGS


def test_the_scenes_do_not_depend_on_the_captions(tmp_path: Path) -> None:
    plain = write_world(tmp_path / "a", {"train": 3}, (64, 64), seed=5)
    described = write_world(tmp_path / "b", {"train": 3}, (64, 64), seed=5, captions=True)
    assert "all" not in plain
    for name in ("train_00000.png", "train_00002.png"):
        a = (tmp_path / "a/images/train" / name).read_bytes()
        assert a == (tmp_path / "b/images/train" / name).read_bytes()
    doc = json.loads((described["all"].parent / "captions_train.json").read_text())
    assert len(doc["annotations"]) == 5 * 3


def test_the_all_task_yaml_reads_as_both_label_sources(tmp_path: Path) -> None:
    data = write_world(tmp_path, {"train": 4}, (64, 64), captions=True)["all"]
    panoptic = panoptic_training_split(data, "train")
    captions = caption_training_split(data, "train")
    assert panoptic is not None
    assert captions is not None
    records = list(reversed(panoptic.dataset.records))  # matched by file, not by order
    matched = captions_for(records, captions)
    assert [len(c) for c in matched] == [5] * 4
    truth = {captions.truth.files[i]: captions.truth.captions[i] for i in captions.truth.captions}
    for record, caps in zip(records, matched, strict=True):
        assert caps == truth[Path(record.path).name]
