"""Generated caption data: scenes of one to three coloured shapes on a plain background, each
with five reference captions from varied templates (what is there and how many, colours, and
for two shapes where one is relative to the other: left of, right of, above, below), written
as a COCO captions split (``images/<split>/*.png``, ``captions_<split>.json``) with the
shapes' boxes as YOLO labels (``labels/<split>/*.txt``, classes ``SHAPES``) and a data YAML
naming it. For the caption task's tests, demo and benchmark; no downloads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

SHAPES = ("circle", "square", "triangle")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (235, 210, 40),
}
BACKGROUNDS = {"grey": (128, 128, 128), "white": (235, 235, 235), "black": (20, 20, 20)}
_NUMBERS = {1: "one", 2: "two", 3: "three"}


def _draw(
    image: np.ndarray, shape: str, colour: tuple[int, int, int], cx: int, cy: int, r: int
) -> None:
    if shape == "circle":
        cv2.circle(image, (cx, cy), r, colour, -1)
    elif shape == "square":
        cv2.rectangle(image, (cx - r, cy - r), (cx + r, cy + r), colour, -1)
    else:
        points = np.array([[cx, cy - r], [cx + r, cy + r], [cx - r, cy + r]], np.int32)
        cv2.fillPoly(image, [points], colour)


def _phrase(colour: str, shape: str, article: bool = True) -> str:
    return f"{'a ' if article else ''}{colour} {shape}"


def _relation(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Where ``a`` is relative to ``b``: the larger of the two offsets decides."""
    dx, dy = a["cx"] - b["cx"], a["cy"] - b["cy"]
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


def scene_captions(
    objects: list[dict[str, Any]], background: str, rng: np.random.Generator
) -> list[str]:
    """Five captions of a scene (``objects``: ``shape``, ``colour``, ``cx``, ``cy``)."""
    things = [_phrase(o["colour"], o["shape"]) for o in objects]
    listing = things[0] if len(things) == 1 else ", ".join(things[:-1]) + " and " + things[-1]
    n = len(objects)
    noun = "shape" if n == 1 else "shapes"
    captions = [
        f"{listing} on a {background} background",
        f"{_NUMBERS[n]} {noun} on {background}: {listing}",
        f"a {background} picture with {listing}",
    ]
    if n == 2:
        a, b = objects
        captions.append(f"{things[0]} {_relation(a, b)} {things[1]}")
        captions.append(f"{things[1]} {_relation(b, a)} {things[0]}")
    else:
        kinds = sorted({o["shape"] for o in objects})
        colours = sorted({o["colour"] for o in objects})
        captions.append(f"{_NUMBERS[n]} {noun} in {' and '.join(colours)}")
        captions.append(f"{' and '.join(kinds)} {noun} on a {background} background")
    order = rng.permutation(len(captions))
    return [captions[i] for i in order]


def make_caption_scene(
    rng: np.random.Generator, size: tuple[int, int]
) -> tuple[np.ndarray, list[dict[str, Any]], list[str]]:
    """RGB image, its objects (``shape``, ``colour``, centre ``cx`` ``cy``, half side ``r``)
    and five captions."""
    h, w = size
    background = str(rng.choice(list(BACKGROUNDS)))
    image = np.full((h, w, 3), BACKGROUNDS[background], np.uint8)
    objects: list[dict[str, Any]] = []
    r = int(min(h, w) * 0.12)
    wanted = int(rng.integers(1, 4))
    for _ in range(50):  # tries: shapes never touch
        if len(objects) == wanted:
            break
        cx, cy = int(rng.integers(r + 2, w - r - 2)), int(rng.integers(r + 2, h - r - 2))
        if any(abs(cx - o["cx"]) < 2 * r + 4 and abs(cy - o["cy"]) < 2 * r + 4 for o in objects):
            continue
        shape, colour = str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS)))
        _draw(image, shape, COLOURS[colour], cx, cy, r)
        objects.append({"shape": shape, "colour": colour, "cx": cx, "cy": cy, "r": r})
    if not objects:  # every try collided: one shape in the middle
        shape, colour = str(rng.choice(SHAPES)), str(rng.choice(list(COLOURS)))
        _draw(image, shape, COLOURS[colour], w // 2, h // 2, r)
        objects.append({"shape": shape, "colour": colour, "cx": w // 2, "cy": h // 2, "r": r})
    return image, objects, scene_captions(objects, background, rng)


def write_caption_dataset(
    root: str | Path, splits: dict[str, int], size: tuple[int, int] = (96, 128), seed: int = 0
) -> Path:
    """Write the splits; returns the data YAML (``captions.yaml``)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    desc: dict[str, Any] = {"path": str(root)}
    for split, count in splits.items():
        folder, labels = root / "images" / split, root / "labels" / split
        folder.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        h, w = size
        for i in range(count):
            image, objects, captions = make_caption_scene(rng, size)
            name = f"{split}_{i:05d}.png"
            cv2.imwrite(str(folder / name), image[..., ::-1])
            lines = [
                f"{SHAPES.index(o['shape'])} {o['cx'] / w:.6f} {o['cy'] / h:.6f} "
                f"{2 * o['r'] / w:.6f} {2 * o['r'] / h:.6f}"
                for o in objects
            ]
            (labels / f"{split}_{i:05d}.txt").write_text("\n".join(lines) + "\n")
            images.append({"id": i + 1, "file_name": name, "height": size[0], "width": size[1]})
            for caption in captions:
                annotations.append(
                    {"id": len(annotations) + 1, "image_id": i + 1, "caption": caption}
                )
        doc = {"images": images, "annotations": annotations}
        (root / f"captions_{split}.json").write_text(json.dumps(doc))
        desc[split] = {"images": f"images/{split}", "captions": f"captions_{split}.json"}
    desc["names"] = list(SHAPES)
    path = root / "captions.yaml"
    path.write_text(yaml.safe_dump(desc, sort_keys=False))
    return path
