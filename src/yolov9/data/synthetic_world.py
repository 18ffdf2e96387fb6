"""A generated panoptic world, written in every format panoptic training reads.

Each scene: stuff regions painted in layers (``sky`` above a wavy horizon; ``grass`` or
``sand`` below it; often a ``water`` blob in the ground; sometimes a ``wall`` on one side),
each with its own texture, then 1-4 things with exact polygons (``disc``, ``box``,
``triangle``) on top, and a void strip along the top. The same scenes are written as

* COCO panoptic: ``panoptic_<split>.json`` and the PNG folder ``panoptic_<split>/``
  (``coco-panoptic.yaml``);
* the authors' format: ``labels/<split>/*.txt`` (things, YOLO polygons) and
  ``stuff/<split>/*.txt`` (stuff polygons, topmost layer first) (``authors.yaml``);
* semantic label maps: ``semantic/<split>/*.png`` (category index, 255 void)
  (``semantic.yaml``),

beside ``images/<split>/``. With ``captions`` each scene also has five captions
(:mod:`.synthetic_world_captions`) in ``captions_<split>.json`` (COCO captions), and
``all.yaml`` names both label sources for each split's images (the all-task data). For the
panoptic and all-task demos, tests and benchmarks; no downloads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from yolov9.data.panoptic import id_to_rgb
from yolov9.data.synthetic_world_captions import world_captions
from yolov9.ops.masks import mask_to_polygons

THINGS = ("disc", "box", "triangle")
STUFF = ("sky", "grass", "sand", "water", "wall")
NAMES = THINGS + STUFF
VOID_LABEL = 255
COLOURS = {  # none near the letterbox grey (114, 114, 114)
    "sky": (140, 185, 240),
    "grass": (50, 140, 50),
    "sand": (215, 190, 120),
    "water": (30, 90, 170),
    "wall": (160, 75, 60),
    "disc": (235, 50, 40),
    "box": (250, 220, 30),
    "triangle": (190, 40, 200),
}


def _texture(rng: np.random.Generator, name: str, shape: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) float offsets that make a region look like its stuff."""
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    if name == "water":  # ripples
        wave = np.sin(rows * rng.uniform(0.5, 0.9) + np.sin(cols * 0.15) * 2) * 18
    elif name == "wall":  # bricks
        course = (rows // 6).astype(int)
        joint = ((rows % 6) < 1) | (((cols + 6 * (course % 2)) % 12) < 1)
        wave = np.where(joint, 45.0, 0.0)
    elif name == "grass":  # blades
        wave = rng.normal(0, 14, (h, w)).astype(np.float32)
    elif name == "sky":  # a gradient
        wave = (rows / max(h, 1)) * 30 - 15
    else:
        wave = rng.normal(0, 6, (h, w)).astype(np.float32)
    return np.repeat(wave[..., None], 3, axis=2)


def _thing_polygon(rng: np.random.Generator, name: str, h: int, w: int) -> np.ndarray:
    r = rng.uniform(0.07, 0.16) * min(h, w)
    cy, cx = rng.uniform(r + 2, h - r), rng.uniform(r, w - r)
    if name == "disc":
        angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        pts = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)
    elif name == "box":
        a = rng.uniform(0, np.pi / 2)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        corners = np.array([[-1, -0.7], [1, -0.7], [1, 0.7], [-1, 0.7]]) * r
        pts = corners @ rot.T + (cx, cy)
    else:
        a = rng.uniform(0, 2 * np.pi)
        angles = a + np.array([0, 2 * np.pi / 3, 4 * np.pi / 3])
        pts = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)
    return np.round(pts).astype(np.int32)


def make_world_scene(
    rng: np.random.Generator, size: tuple[int, int], *, flat: bool = False
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, np.ndarray]], list[tuple[int, np.ndarray]]]:
    """One scene: RGB image, (H, W) category index per pixel (``VOID_LABEL`` void), the
    stuff polygons and the thing polygons as (category index, (K, 2) int32 pixels) in
    painting order. ``flat``: every category one colour (no texture, no shading)."""
    h, w = size
    image = np.zeros((h, w, 3), np.float32)
    label = np.full((h, w), VOID_LABEL, np.uint8)
    rows, cols = np.mgrid[0:h, 0:w]
    horizon = h * rng.uniform(0.3, 0.5) + h * 0.05 * np.sin(cols / w * rng.uniform(3, 8))
    layers: list[tuple[str, np.ndarray]] = [("sky", rows < horizon)]
    layers.append((str(rng.choice(["grass", "sand"])), rows >= horizon))
    if rng.random() < 0.6:
        cy, cx = rng.uniform(0.65, 0.9) * h, rng.uniform(0.2, 0.8) * w
        ry, rx = rng.uniform(0.08, 0.15) * h, rng.uniform(0.15, 0.3) * w
        layers.append(("water", ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1))
    if rng.random() < 0.4:
        x = int(rng.uniform(0.12, 0.3) * w)
        left = bool(rng.random() < 0.5)
        bottom = int(rng.uniform(0.5, 0.8) * h)
        side = cols < x if left else cols >= w - x
        layers.append(("wall", side & (rows < bottom)))

    def paint(name: str, mask: np.ndarray) -> None:
        colour = np.array(COLOURS[name], np.float32)
        if flat:
            image[mask] = colour
            return
        shade = rng.integers(-15, 16, 3)
        image[mask] = (colour + shade + _texture(rng, name, (h, w)))[mask]

    for name, mask in layers:
        paint(name, mask)
        label[mask] = NAMES.index(name)
    stuff: list[tuple[int, np.ndarray]] = []
    for name, _ in reversed(layers):  # topmost first: where outlines overlap, it keeps them
        region = label == NAMES.index(name)
        stuff += [(NAMES.index(name), p.astype(np.int32)) for p in mask_to_polygons(region)]
    things: list[tuple[int, np.ndarray]] = []
    taken = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(1, 5))):
        name = str(rng.choice(THINGS))
        polygon = _thing_polygon(rng, name, h, w)
        canvas = np.zeros((h, w), np.uint8)
        cv2.fillPoly(canvas, [polygon], 1)
        if (taken & (canvas > 0)).any():  # things never overlap: every format agrees
            continue
        taken |= canvas > 0
        paint(name, canvas.astype(bool))
        label[canvas.astype(bool)] = NAMES.index(name)
        things.append((NAMES.index(name), polygon))
    label[:2] = VOID_LABEL  # a void strip along the top
    image[:2] = 0
    return np.clip(image, 0, 255).astype(np.uint8), label, stuff, things


def thing_boxes(things: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) xyxy pixel boxes and (N,) category indices of a scene's thing polygons."""
    boxes = np.array([[*p.min(0), *(p.max(0) + 1)] for _, p in things], np.float32)
    return boxes.reshape(-1, 4), np.array([c for c, _ in things], np.int64)


def _polygon_line(cls: int, polygon: np.ndarray, w: int, h: int) -> str:
    coords = (polygon.astype(np.float64) / (w, h)).reshape(-1)
    return f"{cls} " + " ".join(f"{v:.6f}" for v in coords)


def _segment_ids(
    label: np.ndarray, things: list[tuple[int, np.ndarray]]
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Panoptic segment ids: one segment per stuff category, one per visible thing."""
    h, w = label.shape
    ids = np.zeros((h, w), np.int32)
    segments: list[dict[str, Any]] = []
    for c in range(len(THINGS), len(NAMES)):
        region = label == c
        if region.any():
            segments.append({"id": len(segments) + 1, "category_id": c + 1, "iscrowd": 0})
            ids[region] = len(segments)
    owner = np.full((h, w), -1, np.int32)
    for k, (_, polygon) in enumerate(things):
        canvas = np.zeros((h, w), np.uint8)
        cv2.fillPoly(canvas, [polygon], 1)
        owner[(canvas > 0) & (label != VOID_LABEL)] = k
    for k, (c, _) in enumerate(things):
        region = owner == k
        if region.any():
            segments.append({"id": len(segments) + 1, "category_id": c + 1, "iscrowd": 0})
            ids[region] = len(segments)
    for s in segments:
        ys, xs = np.nonzero(ids == s["id"])
        s["area"] = len(xs)
        s["bbox"] = [int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1]
    return ids, segments


def write_world(
    root: str | Path,
    splits: dict[str, int],
    size: tuple[int, int] = (128, 160),
    seed: int = 0,
    *,
    flat: bool = False,
    captions: bool = False,
) -> dict[str, Path]:
    """Write the splits in the three formats; returns the YAML of each (``coco-panoptic``,
    ``authors``, ``semantic``; with ``captions`` also ``all``). The scenes do not depend on
    ``captions`` (the captions draw from a generator of their own)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    words = np.random.default_rng((seed, 1))
    h, w = size
    categories = [
        {"id": i + 1, "name": n, "isthing": int(n in THINGS)} for i, n in enumerate(NAMES)
    ]
    for split, count in splits.items():
        dirs = {k: root / k / split for k in ("images", "labels", "stuff", "semantic")}
        dirs["pngs"] = root / f"panoptic_{split}"
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        images, annotations, texts = [], [], []
        for i in range(count):
            image, label, stuff, things = make_world_scene(rng, size, flat=flat)
            if captions:
                for text in world_captions(label, things, NAMES, words):
                    texts.append({"id": len(texts) + 1, "image_id": i + 1, "caption": text})
            name = f"{split}_{i:05d}"
            cv2.imwrite(str(dirs["images"] / f"{name}.png"), image[..., ::-1])
            cv2.imwrite(str(dirs["semantic"] / f"{name}.png"), label)
            lines = [_polygon_line(c, p, w, h) for c, p in things]
            (dirs["labels"] / f"{name}.txt").write_text("\n".join(lines) + "\n")
            stuff_lines = [_polygon_line(c, p, w, h) for c, p in stuff]
            (dirs["stuff"] / f"{name}.txt").write_text("\n".join(lines + stuff_lines) + "\n")
            ids, segments = _segment_ids(label, things)
            cv2.imwrite(str(dirs["pngs"] / f"{name}.png"), id_to_rgb(ids)[..., ::-1])
            images.append({"id": i + 1, "file_name": f"{name}.png", "height": h, "width": w})
            annotations.append(
                {"image_id": i + 1, "file_name": f"{name}.png", "segments_info": segments}
            )
        doc = {"images": images, "annotations": annotations, "categories": categories}
        (root / f"panoptic_{split}.json").write_text(json.dumps(doc))
        if captions:
            described = {"images": images, "annotations": texts}
            (root / f"captions_{split}.json").write_text(json.dumps(described))
    descriptions = {
        "coco-panoptic": {
            s: {"images": f"images/{s}", "panoptic": f"panoptic_{s}.json"} for s in splits
        },
        "authors": {
            "names": list(THINGS),
            "stuff_names": list(STUFF),
            **{s: {"images": f"images/{s}", "stuff": f"stuff/{s}"} for s in splits},
        },
        "semantic": {
            "names": list(NAMES),
            "ignore": VOID_LABEL,
            **{s: {"images": f"images/{s}", "semantic": f"semantic/{s}"} for s in splits},
        },
    }
    if captions:
        descriptions["all"] = {
            s: {
                "images": f"images/{s}",
                "panoptic": f"panoptic_{s}.json",
                "captions": f"captions_{s}.json",
            }
            for s in splits
        }
    out = {}
    for kind, desc in descriptions.items():
        out[kind] = root / f"{kind}.yaml"
        out[kind].write_text(yaml.safe_dump({"path": str(root), **desc}, sort_keys=False))
    return out
