"""Readers for the three dataset formats users have: YOLO txt, COCO JSON, Pascal VOC XML.

Each returns :class:`ImageLabels` records in pixels and records every problem in a
:class:`LabelReport`. They differ only in parsing; validation is shared (``check_box``,
``check_polygon``). Instance masks are read exactly: YOLO polygon lines, COCO polygons (every
part) and RLEs, VOC ``SegmentationObject`` PNGs (as RLEs).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from yolov9.data.labels import (
    ImageLabels,
    Issue,
    LabelReport,
    Segmentation,
    check_box,
    check_polygon,
    compress_rle,
    numeric_image_id,
    polygon_area,
    probe_image,
    segmentation_area,
    training_polygons,
)
from yolov9.errors import DataError
from yolov9.ops.masks import encode_rle


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


def _mask_fields(segmentations: list[Segmentation | None]) -> dict:
    """``segmentations`` and the training ``segments`` of one image's objects."""
    if all(s is None for s in segmentations):
        return {"segmentations": None, "segments": None}
    return {"segmentations": segmentations, "segments": training_polygons(segmentations)}


def _box_area(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


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
    if len(coords) < 4:
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
    polygon = None
    if len(coords) == 4:
        cx, cy, bw, bh = coords
        box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], np.float32)
        box *= np.tile(scale, 2)
    else:  # pixels = float32(normalised) * float32(size), as the reference's loader computes
        flat = np.array(coords, np.float32)
        if len(flat) % 2 == 0:
            flat = (flat.reshape(-1, 2) * scale).ravel()
        polygon = check_polygon(flat, w, h, report, file, line)
        if polygon is None:
            return None
        box = np.concatenate((polygon.min(0), polygon.max(0)))
    checked = check_box(box, w, h, report, file, line)
    if checked is None:
        return None
    return int(cls_value), checked, polygon


def read_yolo(images: Sequence[Path], num_classes: int, report: LabelReport) -> list[ImageLabels]:
    """Images and their ``labels/*.txt`` files (``class cx cy w h`` or ``class x1 y1 x2 y2
    ...`` polygons, normalised). A polygon's box is its extent and its area the polygon's."""
    records = []
    ids = [numeric_image_id(p, i) for i, p in enumerate(images)]
    if len(set(ids)) != len(ids):  # numeric stems must be unique to serve as ids
        ids = list(range(len(images)))
    for path, image_id in zip(images, ids, strict=True):
        size = probe_image(path, report)
        if size is None:
            continue
        label_file = yolo_label_path(path)
        boxes, classes, areas, seen = [], [], [], set()
        segmentations: list[Segmentation | None] = []
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
                    cls, box, polygon = parsed
                    classes.append(cls)
                    boxes.append(box)
                    segmentations.append(None if polygon is None else [polygon])
                    areas.append(_box_area(box) if polygon is None else polygon_area(polygon))
        if not boxes:
            report.add(Issue.BACKGROUND, path, "no labels")
        records.append(
            _records_from(
                path,
                size,
                image_id,
                boxes,
                classes,
                areas=np.array(areas, np.float32),
                **_mask_fields(segmentations),
            )
        )
    return records


# ------------------------------------------------------------------------------------ COCO
_COCO_SEGMENTATION = (
    "segmentation must be a list of polygons [[x1, y1, x2, y2, ...], ...] or an RLE"
)


def _coco_segmentation(
    seg: object, w: int, h: int, report: LabelReport, where: str
) -> tuple[bool, Segmentation | None]:
    """(keep the object?, its mask) for a COCO ``segmentation``: every usable polygon part,
    or the RLE (compressed, JSON-ready); None when there is none."""
    if seg is None or seg == []:
        return True, None
    if isinstance(seg, dict):
        try:
            rle = compress_rle(seg)
        except (ValueError, TypeError, OverflowError) as e:
            report.add(Issue.BAD_MASK, where, f"RLE segmentation unusable: {e}")
            return False, None
        if rle["size"] != [h, w]:
            report.add(Issue.BAD_MASK, where, f"RLE size {rle['size']} is not the image's {[h, w]}")
            return False, None
        if segmentation_area(rle) == 0:
            report.add(Issue.BAD_MASK, where, "RLE mask is empty")
            return False, None
        return True, rle
    if isinstance(seg, list) and all(isinstance(part, list) for part in seg):
        try:
            coords = [np.asarray(part, np.float64) for part in seg]
        except (ValueError, TypeError):
            report.add(Issue.BAD_MASK, where, f"{_COCO_SEGMENTATION} of numbers")
            return False, None
        parts = [check_polygon(c, w, h, report, where, None) for c in coords]
        kept = [part for part in parts if part is not None]
        return bool(kept), kept or None
    report.add(Issue.BAD_MASK, where, f"{_COCO_SEGMENTATION} ({type(seg).__name__} given)")
    return False, None


def _coco_box(ann: dict, w: int, h: int, report: LabelReport, where: str) -> np.ndarray | None:
    try:
        x, y, bw, bh = (float(v) for v in ann["bbox"])
    except (TypeError, ValueError):
        report.add(Issue.MALFORMED, where, f"bbox {ann['bbox']!r:.60} is not [x, y, width, height]")
        return None
    return check_box(np.array([x, y, x + bw, y + bh]), w, h, report, where, None)


def read_coco(
    annotations: Path, image_dirs: Sequence[Path], report: LabelReport
) -> tuple[list[ImageLabels], list[str], list[int]]:
    """A COCO instances JSON. Class order follows ascending category id; crowd annotations
    become ignore regions. Images are looked up in the first of ``image_dirs`` that holds the
    JSON's first image. Segmentations (polygons, every part; RLE) are kept exactly; without
    ``area`` an object's area is its mask's, else its box's. Returns (records, names,
    category ids)."""
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
        boxes, classes, crowd, areas = [], [], [], []
        segmentations: list[Segmentation | None] = []
        for ann in by_image.get(img["id"], []):
            where = f"{annotations}#annotation-id-{ann.get('id')}"
            if ann.get("category_id") not in cat_index:
                report.add(Issue.BAD_CLASS, where, f"unknown category_id {ann.get('category_id')}")
                continue
            box = _coco_box(ann, w, h, report, where)
            if box is None:
                continue
            keep, seg = _coco_segmentation(ann.get("segmentation"), w, h, report, where)
            if not keep:
                continue
            boxes.append(box)
            classes.append(cat_index[ann["category_id"]])
            crowd.append(bool(ann.get("iscrowd", 0)))
            segmentations.append(seg)
            area = ann.get("area")
            if not isinstance(area, (int, float)):
                area = _box_area(box) if seg is None else segmentation_area(seg)
            areas.append(float(area))
        if not boxes:
            report.add(Issue.BACKGROUND, path, "no annotations")
        records.append(
            _records_from(
                path,
                (w, h),
                int(img["id"]),
                boxes,
                classes,
                crowd=np.array(crowd, bool),
                areas=np.array(areas, np.float32),
                **_mask_fields(segmentations),
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


def voc_mask_path(masks_dir: Path, image: Path) -> Path:
    """``SegmentationObject/<image stem>.png``."""
    return masks_dir / f"{image.stem}.png"


def _voc_instances(
    png: Path, w: int, h: int, objects: int, report: LabelReport
) -> tuple[bool, np.ndarray | None]:
    """(usable?, the instance PNG's values) for one image; (True, None) without a PNG.

    Value k marks the k-th ``<object>`` of the XML (1-based), 0 background, 255 void.
    """
    if not png.is_file():
        return True, None
    try:
        with Image.open(png) as im:
            if im.mode not in ("P", "L"):
                raise ValueError(f"mode {im.mode}, not a palette or greyscale PNG")
            values = np.array(im)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        report.add(Issue.UNREADABLE_LABELS, png, f"cannot read the instance mask ({e})")
        return False, None
    if values.shape != (h, w):
        report.add(
            Issue.UNREADABLE_LABELS,
            png,
            f"instance mask is {values.shape[1]}x{values.shape[0]}, the image {w}x{h}",
        )
        return False, None
    present = np.unique(values)
    extra = present[(present > objects) & (present != 255)]
    if len(extra):
        report.add(
            Issue.UNREADABLE_LABELS,
            png,
            f"mask values {extra.tolist()[:5]} but the XML has {objects} objects",
        )
        return False, None
    return True, values


def read_voc(
    xml_files: Sequence[Path],
    images_dir: Path,
    names: list[str],
    report: LabelReport,
    masks_dir: Path | None = None,
) -> list[ImageLabels]:
    """Pascal VOC annotation files; ``difficult`` objects become ignore regions.

    VOC pixel coordinates are 1-based and inclusive: (xmin - 1, ymin - 1, xmax, ymax). With
    ``masks_dir`` (``SegmentationObject``), an image's PNG there, where present, gives each
    object its mask (an RLE; the object's area is the mask's).
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
        objects = list(root.iter("object"))
        instances = None
        if masks_dir is not None:
            png = voc_mask_path(masks_dir, path)
            usable, instances = _voc_instances(png, w, h, len(objects), report)
            if not usable:
                continue
        boxes, classes, crowd, areas = [], [], [], []
        segmentations: list[Segmentation | None] = []
        for k, obj in enumerate(objects, 1):
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
            seg = None
            if instances is not None:
                pixels = instances == k
                if not pixels.any():
                    report.add(Issue.BAD_MASK, where, f"no pixels of value {k} in its mask PNG")
                    continue
                seg = encode_rle(pixels)
            boxes.append(box)
            classes.append(index[name])
            crowd.append((obj.findtext("difficult") or "0").strip() == "1")
            segmentations.append(seg)
            areas.append(_box_area(box) if seg is None else segmentation_area(seg))
        if not boxes:
            report.add(Issue.BACKGROUND, path, "no objects")
        records.append(
            _records_from(
                path,
                size,
                numeric_image_id(path, i),
                boxes,
                classes,
                crowd=np.array(crowd, bool),
                areas=np.array(areas, np.float32),
                **_mask_fields(segmentations),
            )
        )
    ids = [r.image_id for r in records]
    if len(set(ids)) != len(ids):
        for i, r in enumerate(records):
            r.image_id = i
    return records
