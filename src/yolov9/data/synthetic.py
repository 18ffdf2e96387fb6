"""Synthetic detection scenes: coloured shapes on textured backgrounds, with exact boxes.

Used by the demo and the test-suite (no downloads). Each class is a shape; colours, sizes,
positions and backgrounds vary, so a detector has to learn shape, not colour.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import yaml

SHAPES = ("circle", "square", "triangle", "star")


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth colour gradient + blurred noise + a few thin lines."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = (x * rng.uniform(-1, 1) + y * rng.uniform(-1, 1)) / (h + w) + 0.5
    img = c0 * (1 - t[..., None]) + c1 * t[..., None]
    noise = cv2.GaussianBlur(rng.normal(0, 25, (h, w, 3)).astype(np.float32), (0, 0), 3)
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(2, 6)):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.line(img, p1, p2, colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    return img


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    if shape == "square":
        k, radii = 4, [r * math.sqrt(2)] * 4
        angle += math.pi / 4
    elif shape == "triangle":
        k, radii = 3, [r * 1.15] * 3
    else:  # star
        k, radii = 10, [r * 1.2 if i % 2 == 0 else r * 0.5 for i in range(10)]
    pts = [
        (
            cx + rad * math.cos(angle + 2 * math.pi * i / k),
            cy + rad * math.sin(angle + 2 * math.pi * i / k),
        )
        for i, rad in enumerate(radii)
    ]
    return np.array(pts, dtype=np.float32)


def make_scene(
    rng: np.random.Generator,
    size: tuple[int, int] = (256, 256),
    *,
    max_objects: int = 6,
    num_classes: int = len(SHAPES),
    min_radius: float = 8.0,
    max_radius: float | None = None,
    max_overlap: float = 0.25,
    photo: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One RGB scene with 1 ... ``max_objects`` shapes (none if ``max_objects`` is 0).

    Objects overlap each other by at most ``max_overlap`` of the smaller one's box. With a
    ``photo`` (RGB), the background is a random crop of it instead of a generated texture.

    Returns:
        image: (H, W, 3) uint8 RGB.
        boxes: (N, 4) float32 xyxy boxes in whole pixels, tight around each shape, clipped.
        labels: (N,) int64 class ids in [0, num_classes).
    """
    h, w = size
    img = _background(rng, h, w) if photo is None else _photo_crop(rng, photo, h, w)
    max_r = max_radius or min(h, w) / 5
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    count = int(rng.integers(1, max_objects + 1)) if max_objects > 0 else 0
    for _ in range(count):
        label = int(rng.integers(0, num_classes))
        for _attempt in range(20):  # keep objects mostly unoccluded
            r = float(rng.uniform(min_radius, max_r))
            cx, cy = float(rng.uniform(r, w - r)), float(rng.uniform(r, h - r))
            around = np.array([cx - 1.2 * r, cy - 1.2 * r, cx + 1.2 * r, cy + 1.2 * r])
            if all(_overlap(around, b) < max_overlap for b in boxes):
                break
        else:
            continue
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        shape = SHAPES[label % len(SHAPES)]
        if shape == "circle":
            cv2.circle(img, (round(cx), round(cy)), round(r), colour, -1, cv2.LINE_AA)
            extent = np.array([cx - r, cy - r, cx + r, cy + r])
        else:
            pts = _polygon(shape, cx, cy, r, float(rng.uniform(0, 2 * math.pi)))
            cv2.fillPoly(img, [np.round(pts).astype(np.int32)], colour, cv2.LINE_AA)
            extent = np.concatenate((pts.min(0), pts.max(0)))
        # whole pixels: every label format stores them exactly
        boxes.append(np.clip(np.round(extent), 0, [w, h, w, h]))
        labels.append(label)
    return img, np.array(boxes, np.float32).reshape(-1, 4), np.array(labels, np.int64)


def _photo_crop(rng: np.random.Generator, photo: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random crop of ``photo`` (30-100 % of its shorter side), resized to (h, w)."""
    ph, pw = photo.shape[:2]
    side = int(min(ph, pw) * rng.uniform(0.3, 1.0))
    ch, cw = min(ph, int(side * h / max(h, w) * 1.0) or 1), min(pw, int(side * w / max(h, w)) or 1)
    y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = photo[y : y + ch, x : x + cw]
    return np.ascontiguousarray(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA))


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / smaller)


def _yolo_lines(boxes: np.ndarray, labels: np.ndarray, w: int, h: int) -> str:
    rows = []
    for (x1, y1, x2, y2), c in zip(boxes.tolist(), labels.tolist(), strict=True):
        rows.append(
            f"{c} {(x1 + x2) / 2 / w!r} {(y1 + y2) / 2 / h!r} {(x2 - x1) / w!r} {(y2 - y1) / h!r}"
        )
    return "\n".join(rows)


def _voc_xml(name: str, boxes: np.ndarray, labels: np.ndarray, w: int, h: int) -> str:
    objects = "".join(
        f"<object><name>{SHAPES[c]}</name><difficult>0</difficult><bndbox><xmin>{int(b[0]) + 1}"
        f"</xmin><ymin>{int(b[1]) + 1}</ymin><xmax>{int(b[2])}</xmax><ymax>{int(b[3])}</ymax>"
        "</bndbox></object>"
        for b, c in zip(boxes, labels, strict=True)
    )
    return (
        f"<annotation><filename>{name}</filename><size><width>{w}</width><height>{h}"
        f"</height><depth>3</depth></size>{objects}</annotation>"
    )


def write_dataset(
    root: str | Path,
    *,
    splits: dict[str, int] | None = None,
    size: tuple[int, int] = (256, 256),
    seed: int = 0,
    formats: tuple[str, ...] = ("yolo",),
    max_objects: int = 6,
    background_every: int = 0,
    photos: list[str | Path] | None = None,
) -> dict[str, Path]:
    """Write a shapes dataset (same images, same boxes) in any of the formats ``yolo``,
    ``coco`` and ``voc``; return each format's description file.

    Layout: ``images/<split>/*.png``; YOLO ``labels/<split>/*.txt``; COCO
    ``annotations/instances_<split>.json``; VOC ``voc/<split>/*.xml``. With
    ``background_every=k`` every k-th image has no objects. ``photos``: image files whose
    random crops serve as backgrounds (real photographic clutter instead of textures).
    """
    root = Path(root)
    splits = splits or {"train": 64, "val": 16}
    rng = np.random.default_rng(seed)
    h, w = size
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(SHAPES)]
    for split, count in splits.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for i in range(count):
            empty = background_every > 0 and i % background_every == background_every - 1
            photo = None
            if photos:
                from yolov9.data.images import read_image

                photo = read_image(photos[int(rng.integers(len(photos)))])
            image, boxes, labels = make_scene(
                rng, size, max_objects=0 if empty else max_objects, photo=photo
            )
            name = f"{split}_{i:05d}.png"
            cv2.imwrite(str(root / "images" / split / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            if "yolo" in formats:
                (root / "labels" / split).mkdir(parents=True, exist_ok=True)
                (root / "labels" / split / name).with_suffix(".txt").write_text(
                    _yolo_lines(boxes, labels, w, h)
                )
            if "voc" in formats:
                (root / "voc" / split).mkdir(parents=True, exist_ok=True)
                (root / "voc" / split / name).with_suffix(".xml").write_text(
                    _voc_xml(name, boxes, labels, w, h)
                )
            images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
            for (x1, y1, x2, y2), c in zip(boxes.tolist(), labels.tolist(), strict=True):
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": i + 1,
                        "category_id": int(c) + 1,
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": (x2 - x1) * (y2 - y1),
                        "iscrowd": 0,
                    }
                )
        if "coco" in formats:
            (root / "annotations").mkdir(exist_ok=True)
            coco = {"images": images, "annotations": annotations, "categories": categories}
            (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(coco))
    descriptions = {
        "yolo": ("data.yaml", {"names": list(SHAPES), **{s: f"images/{s}" for s in splits}}),
        "coco": (
            "data_coco.yaml",
            {
                s: {"images": f"images/{s}", "annotations": f"annotations/instances_{s}.json"}
                for s in splits
            },
        ),
        "voc": (
            "data_voc.yaml",
            {
                "format": "voc",
                "names": list(SHAPES),
                **{s: {"images": f"images/{s}", "annotations": f"voc/{s}"} for s in splits},
            },
        ),
    }
    out = {}
    for fmt in formats:
        filename, desc = descriptions[fmt]
        out[fmt] = root / filename
        out[fmt].write_text(
            yaml.safe_dump({"path": str(Path(root).resolve()), **desc}, sort_keys=False)
        )
    return out
