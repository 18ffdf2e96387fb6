"""Generated panoptic scenes written as a COCO panoptic split (JSON + PNG folder + images):
stuff bands (``sky`` above a wavy horizon, ``grass`` or ``road`` below) with thing shapes
(``disc``, ``box``) on top, a crowd region now and then, and a void border. For tests and
examples that need panoptic data without downloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yolov9.data.panoptic import id_to_rgb

THINGS = ("disc", "box")
STUFF = ("sky", "grass", "road")
_COLOURS = {
    "sky": (150, 190, 235),
    "grass": (60, 150, 60),
    "road": (110, 110, 115),
    "disc": (220, 60, 50),
    "box": (50, 70, 200),
}


def panoptic_categories() -> list[dict[str, Any]]:
    """Categories with COCO-like ids (things first)."""
    names = THINGS + STUFF
    return [
        {"id": 10 + i, "name": n, "isthing": int(n in THINGS), "supercategory": "shape"}
        for i, n in enumerate(names)
    ]


def make_panoptic_scene(
    rng: np.random.Generator, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """One scene: RGB image, (H, W) segment ids (0 void), and its ``segments_info`` (without
    ``bbox``/``area``, which :func:`write_panoptic_dataset` adds from the ids)."""
    h, w = size
    cats = {c["name"]: c["id"] for c in panoptic_categories()}
    ids = np.zeros((h, w), np.int32)
    image = np.zeros((h, w, 3), np.uint8)
    segments: list[dict[str, Any]] = []

    def add(mask: np.ndarray, name: str, crowd: int = 0) -> None:
        seg_id = len(segments) + 1
        ids[mask] = seg_id
        shade = rng.integers(-20, 21, 3)
        image[mask] = np.clip(np.array(_COLOURS[name]) + shade, 0, 255)
        segments.append({"id": seg_id, "category_id": cats[name], "iscrowd": crowd})

    rows = np.arange(h)[:, None]
    cols = np.arange(w)[None, :]
    horizon = h * rng.uniform(0.3, 0.55) + h * 0.05 * np.sin(cols / w * rng.uniform(3, 8))
    add(np.broadcast_to(rows < horizon, (h, w)).copy(), "sky")
    add(np.broadcast_to(rows >= horizon, (h, w)).copy(), str(rng.choice(["grass", "road"])))
    for k in range(int(rng.integers(1, 4))):
        name = str(rng.choice(THINGS))
        r = rng.uniform(0.08, 0.18) * min(h, w)
        cy, cx = rng.uniform(r, h - r), rng.uniform(r, w - r)
        if name == "disc":
            mask = (rows - cy) ** 2 + (cols - cx) ** 2 <= r * r
        else:
            mask = (np.abs(rows - cy) <= r * 0.8) & (np.abs(cols - cx) <= r)
        add(mask, name, crowd=int(k == 2))  # a third object is a crowd region
    ids[:2] = 0  # a void strip along the top
    image[:2] = 0
    kept = set(np.unique(ids).tolist())
    segments = [s for s in segments if s["id"] in kept]
    return image, ids, segments


def write_panoptic_dataset(
    root: str | Path, count: int, size: tuple[int, int] = (96, 128), seed: int = 0
) -> Path:
    """Write ``count`` scenes: ``root/images/*.png``, ``root/panoptic.json`` and the PNG
    folder ``root/panoptic/``. Returns the JSON's path."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "panoptic").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(count):
        image, ids, segments = make_panoptic_scene(rng, size)
        name = f"{i + 1:012d}"
        cv2.imwrite(str(root / "images" / f"{name}.png"), image[..., ::-1])
        cv2.imwrite(str(root / "panoptic" / f"{name}.png"), id_to_rgb(ids)[..., ::-1])
        for s in segments:
            ys, xs = np.nonzero(ids == s["id"])
            s["area"] = len(xs)
            s["bbox"] = [int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1]
        images.append(
            {"id": i + 1, "file_name": f"{name}.png", "height": size[0], "width": size[1]}
        )
        annotations.append(
            {"image_id": i + 1, "file_name": f"{name}.png", "segments_info": segments}
        )
    doc = {"images": images, "annotations": annotations, "categories": panoptic_categories()}
    path = root / "panoptic.json"
    path.write_text(json.dumps(doc))
    return path
