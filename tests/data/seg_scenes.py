"""Generated instance-segmentation datasets: the same objects written as YOLO polygon txt,
COCO polygons, COCO RLEs and VOC ``SegmentationObject`` PNGs (no downloads)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import yaml
from faster_coco_eval.core import mask as coco_mask
from PIL import Image

from yolov9.data.labels import polygon_area, self_intersecting
from yolov9.ops.masks import encode_rle

NAMES = ["tri", "quad", "star"]
SIZE = (256, 128)  # width, height: powers of two, so normalised YOLO values are exact
CELL = 64  # one object per 64 x 64 cell at most: objects never overlap


def random_polygon(rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    """A simple (non-crossing) star-shaped polygon with integer vertices."""
    while True:
        k = int(rng.integers(3, 9))
        step = 2 * math.pi / k
        angles = rng.uniform(0, 2 * math.pi) + step * np.arange(k) + rng.uniform(0, 0.3 * step, k)
        radii = rng.uniform(0.5 * r, r, k)
        points = np.round(np.stack((cx + radii * np.cos(angles), cy + radii * np.sin(angles)), 1))
        if not self_intersecting(points) and polygon_area(points) > 20:
            return points.astype(np.float64)


def scene(rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
    """(class, polygon) per object, at most one per cell of the image."""
    w, h = SIZE
    cells = [(x, y) for x in range(0, w, CELL) for y in range(0, h, CELL)]
    chosen = rng.choice(len(cells), size=int(rng.integers(1, len(cells) + 1)), replace=False)
    objects = []
    for c in sorted(chosen.tolist()):
        x, y = cells[c]
        r = float(rng.uniform(10, 28))
        cx, cy = x + CELL / 2 + rng.uniform(-3, 3), y + CELL / 2 + rng.uniform(-3, 3)
        objects.append((int(rng.integers(0, len(NAMES))), random_polygon(rng, cx, cy, r)))
    return objects


def coco_rle_of(polygon: np.ndarray) -> np.ndarray:
    """The mask COCO rasterises for a polygon, (H, W) uint8."""
    w, h = SIZE
    return coco_mask.decode(coco_mask.frPyObjects([polygon.ravel().tolist()], h, w)[0])


def _voc_xml(name: str, objects: list[tuple[int, np.ndarray]]) -> str:
    body = ""
    for cls, poly in objects:
        x1, y1 = poly.min(0).astype(int)
        x2, y2 = poly.max(0).astype(int)
        body += (
            f"<object><name>{NAMES[cls]}</name><difficult>0</difficult><bndbox><xmin>{x1 + 1}"
            f"</xmin><ymin>{y1 + 1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        )
    return f"<annotation><filename>{name}</filename>{body}</annotation>"


def _write_yaml(path: Path, desc: dict) -> Path:
    path.write_text(yaml.safe_dump(desc, sort_keys=False))
    return path


def write_seg_dataset(root: Path, images: int = 8, seed: int = 0) -> dict[str, Path]:
    """Write the dataset; returns the description of each form: ``yolo``, ``coco`` (polygons,
    with COCO's polygon ``area``), ``coco_rle`` (the masks COCO draws for those polygons as
    RLEs, half compressed, half not, no ``area``) and ``voc`` (the same masks as PNGs)."""
    rng = np.random.default_rng(seed)
    w, h = SIZE
    for folder in ("images", "labels", "Annotations", "SegmentationObject", "annotations"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    coco_images, polygons, rles = [], [], []
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(NAMES)]
    for i in range(images):
        name = f"{i + 1:04d}.png"
        objects = scene(rng)
        pixels = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / name), pixels)
        lines = [
            f"{c} " + " ".join(repr(float(v)) for v in (p / [w, h]).ravel()) for c, p in objects
        ]
        (root / "labels" / f"{i + 1:04d}.txt").write_text("\n".join(lines) + "\n")
        (root / "Annotations" / f"{i + 1:04d}.xml").write_text(_voc_xml(name, objects))
        instances = np.zeros((h, w), np.uint8)
        coco_images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for k, (cls, poly) in enumerate(objects, 1):
            mask = coco_rle_of(poly)
            instances[mask > 0] = k
            x1, y1 = poly.min(0)
            x2, y2 = poly.max(0)
            common = {
                "id": len(polygons) + 1,
                "image_id": i + 1,
                "category_id": cls + 1,
                "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                "iscrowd": 0,
            }
            polygons.append(
                {**common, "segmentation": [poly.ravel().tolist()], "area": polygon_area(poly)}
            )
            rle = encode_rle(mask)
            if len(rles) % 2:  # uncompressed: counts as a list of run lengths
                rle = {"size": [h, w], "counts": _runs(mask)}
            rles.append({**common, "segmentation": rle})
        png = Image.frombytes("P", (w, h), instances.tobytes())
        png.putpalette([0, 0, 0, *([128, 64, 32] * 254), 224, 224, 192])
        png.save(root / "SegmentationObject" / name)
    for kind, anns in (("polygons", polygons), ("rle", rles)):
        data = {"images": coco_images, "annotations": anns, "categories": categories}
        (root / "annotations" / f"{kind}.json").write_text(json.dumps(data))
    coco = {"images": "images", "annotations": "annotations/polygons.json"}
    voc = {"images": "images", "annotations": "Annotations"}
    return {
        "yolo": _write_yaml(
            root / "yolo.yaml", {"path": str(root), "val": "images", "names": NAMES}
        ),
        "coco": _write_yaml(root / "coco.yaml", {"path": str(root), "val": coco}),
        "coco_rle": _write_yaml(
            root / "coco_rle.yaml",
            {"path": str(root), "val": {**coco, "annotations": "annotations/rle.json"}},
        ),
        "voc": _write_yaml(
            root / "voc.yaml", {"path": str(root), "format": "voc", "names": NAMES, "val": voc}
        ),
    }


def _runs(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO RLE counts (column-major runs, starting with zeros)."""
    flat = np.asarray(mask, np.uint8).ravel(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], edges, [len(flat)]))
    runs = np.diff(bounds).tolist()
    return runs if flat[0] == 0 else [0, *runs]
