"""Readers for the three dataset formats users have: YOLO txt, COCO JSON, Pascal VOC XML.

Each returns :class:`ImageLabels` records in pixels and records every problem in a
:class:`LabelReport`. They differ only in parsing; validation is shared (``check_box``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from yolov9.data.labels import (
    ImageLabels,
    Issue,
    LabelReport,
    check_box,
    numeric_image_id,
    probe_image,
)
from yolov9.errors import DataError


def _records_from(
    path: Path, size: tuple[int, int], image_id: int, boxes: list, classes: list, **extra
) -> ImageLabels:
    return ImageLabels(
        str(path),
        size[0],
        size[1],
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(classes, np.int64),
        image_id,
        **extra,
    )


# ------------------------------------------------------------------------------------ YOLO
def yolo_label_path(image: Path) -> Path:
    """``.../images/.../x.jpg`` -> ``.../labels/.../x.txt`` (last ``images`` component);
    a label file next to the image when the path has no ``images`` folder."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def _parse_yolo_line(
    tokens: list[str], num_classes: int, w: int, h: int, report: LabelReport, file: str, line: int
) -> tuple[int, np.ndarray, np.ndarray | None] | None:
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        report.add(Issue.MALFORMED, file, f"not numbers: {' '.join(tokens)[:60]!r}", line)
        return None
    cls_value, coords = values[0], values[1:]
    if len(coords) != 4 and (len(coords) < 6 or len(coords) % 2):
        report.add(Issue.MALFORMED, file, f"{len(values)} values (expected 5, or a polygon)", line)
        return None
    if cls_value != int(cls_value) or not 0 <= cls_value < num_classes:
        report.add(Issue.BAD_CLASS, file, f"class {tokens[0]} not in 0..{num_classes - 1}", line)
        return None
    if max(coords) > 1.5:
        report.add(
            Issue.NOT_NORMALISED,
            file,
            f"values up to {max(coords):g}: YOLO labels are normalised to 0-1 by the image size",
            line,
        )
        return None
    scale = np.array([w, h], np.float32)
    if len(coords) == 4:
        cx, cy, bw, bh = coords
        box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], np.float32)
        polygon = None
        box *= np.tile(scale, 2)
    else:
        polygon = np.array(coords, np.float32).reshape(-1, 2) * scale
        box = np.concatenate((polygon.min(0), polygon.max(0)))
    checked = check_box(box, w, h, report, file, line)
    if checked is None:
        return None
    if polygon is not None:
        polygon = np.clip(polygon, 0, scale)
    return int(cls_value), checked, polygon


def read_yolo(images: Sequence[Path], num_classes: int, report: LabelReport) -> list[ImageLabels]:
    """Images and their ``labels/*.txt`` files (``class cx cy w h`` or polygons, normalised)."""
    records = []
    ids = [numeric_image_id(p, i) for i, p in enumerate(images)]
    if len(set(ids)) != len(ids):  # numeric stems must be unique to serve as ids
        ids = list(range(len(images)))
    for path, image_id in zip(images, ids, strict=True):
        size = probe_image(path, report)
        if size is None:
            continue
        label_file = yolo_label_path(path)
        boxes, classes, polygons, seen = [], [], [], set()
        if label_file.is_file():
            try:
                lines = label_file.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as e:
                report.add(Issue.UNREADABLE_LABELS, label_file, f"cannot read ({e})")
                continue
            for n, text in enumerate(lines, 1):
                tokens = text.split()
                if not tokens:
                    continue
                if tuple(tokens) in seen:
                    report.add(Issue.DUPLICATE, label_file, "duplicate line", n)
                    continue
                seen.add(tuple(tokens))
                parsed = _parse_yolo_line(tokens, num_classes, *size, report, str(label_file), n)
                if parsed is not None:
                    classes.append(parsed[0])
                    boxes.append(parsed[1])
                    polygons.append(parsed[2])
        if not boxes:
            report.add(Issue.BACKGROUND, path, "no labels")
        segments = polygons if polygons and all(p is not None for p in polygons) else None
        records.append(_records_from(path, size, image_id, boxes, classes, segments=segments))
    return records


# ------------------------------------------------------------------------------------ COCO
def read_coco(
    annotations: Path, image_dirs: Sequence[Path], report: LabelReport
) -> tuple[list[ImageLabels], list[str], list[int]]:
    """A COCO instances JSON. Class order follows ascending category id; crowd annotations
    become ignore regions. Images are looked up in the first of ``image_dirs`` that holds the
    JSON's first image. Returns (records, names, category ids)."""
    try:
        data = json.loads(annotations.read_text())
        images, categories = data["images"], data["categories"]
        anns = data.get("annotations", [])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{annotations}: not a COCO instances file ({e})") from None
    categories = sorted(categories, key=lambda c: c["id"])
    cat_index = {c["id"]: i for i, c in enumerate(categories)}
    by_image: dict[int, list[dict]] = {}
    for k, ann in enumerate(anns):
        if not isinstance(ann, dict) or "image_id" not in ann or "bbox" not in ann:
            report.add(Issue.MALFORMED, annotations, f"annotation #{k} lacks image_id or bbox")
            continue
        by_image.setdefault(ann["image_id"], []).append(ann)
    first = images[0]["file_name"] if images else ""
    images_dir = next((d for d in image_dirs if (d / first).is_file()), image_dirs[0])
    known = {img["id"] for img in images}
    for image_id in by_image.keys() - known:
        report.add(Issue.MALFORMED, annotations, f"annotations for unknown image id {image_id}")
    records = []
    for img in images:
        path = images_dir / img["file_name"]
        if not path.is_file():
            report.add(Issue.MISSING_IMAGE, path, "image file not found")
            continue
        w, h = int(img["width"]), int(img["height"])
        boxes, classes, crowd, areas, polygons = [], [], [], [], []
        for ann in by_image.get(img["id"], []):
            where = f"{annotations}#annotation-id-{ann.get('id')}"
            if ann.get("category_id") not in cat_index:
                report.add(Issue.BAD_CLASS, where, f"unknown category_id {ann.get('category_id')}")
                continue
            x, y, bw, bh = (float(v) for v in ann["bbox"])
            box = check_box(np.array([x, y, x + bw, y + bh]), w, h, report, where, None)
            if box is None:
                continue
            boxes.append(box)
            classes.append(cat_index[ann["category_id"]])
            crowd.append(bool(ann.get("iscrowd", 0)))
            areas.append(float(ann.get("area", bw * bh)))
            seg = ann.get("segmentation")
            parts = (
                [np.array(s, np.float32).reshape(-1, 2) for s in seg if len(s) >= 6]
                if (isinstance(seg, list))
                else []
            )
            polygons.append(max(parts, key=len) if parts else None)
        if not boxes:
            report.add(Issue.BACKGROUND, path, "no annotations")
        segments = polygons if polygons and all(p is not None for p in polygons) else None
        records.append(
            _records_from(
                path,
                (w, h),
                int(img["id"]),
                boxes,
                classes,
                crowd=np.array(crowd, bool),
                areas=np.array(areas, np.float32),
                segments=segments,
            )
        )
    names = [str(c["name"]) for c in categories]
    return records, names, [int(c["id"]) for c in categories]


# ------------------------------------------------------------------------------------- VOC
def voc_class_names(xml_files: Sequence[Path]) -> list[str]:
    """All object names used in a set of VOC files, sorted (when the YAML gives none)."""
    names: set[str] = set()
    for f in xml_files:
        try:
            names.update(
                o.findtext("name", "").strip() for o in ET.parse(f).getroot().iter("object")
            )
        except (ET.ParseError, OSError):
            continue
    return sorted(n for n in names if n)


def read_voc(
    xml_files: Sequence[Path], images_dir: Path, names: list[str], report: LabelReport
) -> list[ImageLabels]:
    """Pascal VOC annotation files; ``difficult`` objects become ignore regions.

    VOC pixel coordinates are 1-based and inclusive: (xmin - 1, ymin - 1, xmax, ymax).
    """
    index = {n: i for i, n in enumerate(names)}
    records = []
    for i, xml_file in enumerate(xml_files):
        try:
            root = ET.parse(xml_file).getroot()
        except (ET.ParseError, OSError) as e:
            report.add(Issue.UNREADABLE_LABELS, xml_file, f"cannot parse XML ({e})")
            continue
        filename = root.findtext("filename") or f"{xml_file.stem}.jpg"
        path = images_dir / filename
        size = probe_image(path, report)
        if size is None:
            continue
        w, h = size
        boxes, classes, crowd = [], [], []
        for k, obj in enumerate(root.iter("object"), 1):
            name = (obj.findtext("name") or "").strip()
            where = f"{xml_file}#object-{k}"
            if name not in index:
                report.add(Issue.BAD_CLASS, where, f"class {name!r} not in the dataset's names")
                continue
            bb = obj.find("bndbox")
            try:
                x1, y1, x2, y2 = (float(bb.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax"))  # type: ignore[union-attr, arg-type]
            except (AttributeError, TypeError, ValueError):
                report.add(Issue.MALFORMED, where, "missing or non-numeric bndbox")
                continue
            box = check_box(np.array([x1 - 1, y1 - 1, x2, y2]), w, h, report, where, None)
            if box is None:
                continue
            boxes.append(box)
            classes.append(index[name])
            crowd.append((obj.findtext("difficult") or "0").strip() == "1")
        if not boxes:
            report.add(Issue.BACKGROUND, path, "no objects")
        records.append(
            _records_from(
                path, size, numeric_image_id(path, i), boxes, classes, crowd=np.array(crowd, bool)
            )
        )
    ids = [r.image_id for r in records]
    if len(set(ids)) != len(ids):
        for i, r in enumerate(records):
            r.image_id = i
    return records
