"""The other panoptic and semantic label formats, read into the same ground truth as COCO
panoptic (:class:`~yolov9.data.panoptic.PanopticSet`) or as semantic label maps.

**The authors' format** (their ``panoptic`` scripts): YOLO polygon labels in ``labels/``
(things) and, beside them, ``stuff/<stem>.txt`` with one polygon per line, ``class x1 y1 ...``
normalised, where ``class`` is the semantic channel: 0 .. nc-1 the things (repeated there, and
ignored here: things come from ``labels/``), nc .. the ``stuff_names``. The ground truth is
built as a panoptic segmentation: each stuff class one segment (the union of its polygons),
things painted on top in file order; where two polygons overlap the earlier keeps the pixels
(the label checker reports it with the file and lines).

**Semantic label maps** (Cityscapes, ADE20K style): one single-channel PNG per image in a
folder, the class index per pixel, ``ignore`` (default 255) for unlabelled pixels. These give
semantic ground truth only: validation reports mIoU, not PQ or AP.

Data YAML::

    names: [person, car]             # things (semantic maps: every class)
    stuff_names: [sky, road]         # the authors' format: the stuff channels after the things
    val: {images: images/val, stuff: stuff/val}          # the authors' format
    val: {images: images/val, semantic: annotations/val} # label maps (ignore: 255)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yolov9.data.dataset import read_description
from yolov9.data.formats import read_yolo, yolo_label_path
from yolov9.data.images import IMAGE_SUFFIXES, read_image
from yolov9.data.labels import ImageLabels, LabelReport
from yolov9.data.panoptic import PanopticImage, PanopticSet, is_panoptic_json, read_panoptic
from yolov9.errors import DataError
from yolov9.ops.masks import polygons_to_mask

log = logging.getLogger(__name__)


def _images(folder: Path, source: str) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{source}: image folder not found: {folder}")
    files = sorted(f for f in folder.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"{source}: no images in {folder}")
    return files


def _stuff_path(image: Path, images_dir: Path, stuff_dir: Path) -> Path:
    return stuff_dir / image.relative_to(images_dir).with_suffix(".txt")


@dataclass
class PolygonPanopticSet(PanopticSet):
    """The authors' format as panoptic ground truth; segment ids are made when an image is
    read (:meth:`read_ids`)."""

    things: dict[str, ImageLabels] = field(default_factory=dict)
    stuff_files: dict[str, Path] = field(default_factory=dict)
    num_things: int = 0

    def read_ids(self, image: PanopticImage) -> np.ndarray:
        key = str(image.image)
        labels, h, w = self.things[key], image.height, image.width
        ids = np.zeros((h, w), np.int32)
        segments: list[dict[str, Any]] = []
        stuff_file = self.stuff_files[key]
        for cls, polygons in stuff_polygons(
            stuff_file, self.num_things, len(self.categories), w, h
        ):
            mask = polygons_to_mask(polygons, h, w)
            overlap = int((mask & (ids > 0)).sum())
            if overlap > w + h:  # more than a shared border
                log.warning(
                    "%s: stuff class %d overlaps an earlier stuff class by %d px; the earlier "
                    "keeps them",
                    stuff_file,
                    cls,
                    overlap,
                )
            free = mask & (ids == 0)
            if free.any():
                segments.append({"id": len(segments) + 1, "category_id": cls + 1, "iscrowd": 0})
                ids[free] = len(segments)
        label_file = yolo_label_path(Path(key))
        things = labels.object_segmentations()
        stuff_ids = set(range(1, len(segments) + 1))
        for n, (cls, polygons) in enumerate(zip(labels.classes, things, strict=True)):
            if polygons is None or isinstance(polygons, dict):
                log.warning(
                    "%s: object %d has no polygon, so it is not in the panoptic ground truth",
                    label_file,
                    n + 1,
                )
                continue
            mask = polygons_to_mask(polygons, h, w)
            taken = mask & (ids > 0) & ~np.isin(ids, list(stuff_ids))
            if taken.any():
                log.warning(
                    "%s: object %d overlaps an earlier one by %d px; the earlier keeps them",
                    label_file,
                    n + 1,
                    int(taken.sum()),
                )
            free = mask & ~taken
            if free.any():
                segments.append(
                    {"id": len(segments) + 1, "category_id": int(cls) + 1, "iscrowd": 0}
                )
                ids[free] = len(segments)
        kept = set(np.unique(ids).tolist())
        image.segments = [
            {**s, "area": int((ids == s["id"]).sum())} for s in segments if s["id"] in kept
        ]
        return ids


def stuff_polygons(
    path: Path, num_things: int, num_classes: int, w: int, h: int
) -> list[tuple[int, list[np.ndarray]]]:
    """The stuff lines of an authors' ``stuff/*.txt``, grouped by class in order of first
    appearance (thing lines, which repeat ``labels/``, are skipped)."""
    if not path.is_file():
        return []
    groups: dict[int, list[np.ndarray]] = {}
    for n, text in enumerate(path.read_text().splitlines(), 1):
        tokens = text.split()
        if not tokens:
            continue
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            raise DataError(f"{path}:{n}: not numbers: {text[:60]!r}") from None
        cls = int(values[0])
        if cls != values[0] or not 0 <= cls < num_classes:
            raise DataError(f"{path}:{n}: class {tokens[0]} not in 0..{num_classes - 1}")
        coords = values[1:]
        if len(coords) < 6 or len(coords) % 2:
            raise DataError(f"{path}:{n}: a polygon needs at least 3 x y pairs")
        if cls < num_things:
            continue
        polygon = np.array(coords, np.float64).reshape(-1, 2) * (w, h)
        groups.setdefault(cls, []).append(polygon)
    return list(groups.items())


def read_authors_panoptic(
    images_dir: Path, stuff_dir: Path, names: list[str], stuff_names: list[str], source: str
) -> PolygonPanopticSet:
    """Images with ``labels/`` (things, YOLO polygons) and ``stuff/`` polygon files."""
    if not stuff_dir.is_dir():
        raise DataError(f"{source}: stuff folder not found: {stuff_dir}")
    files = _images(images_dir, source)
    report = LabelReport(split=source)
    records = read_yolo(files, len(names), report)
    report.log()
    categories = [
        {"id": i + 1, "name": n, "isthing": int(i < len(names))}
        for i, n in enumerate(names + stuff_names)
    ]
    out, things, stuff_files = [], {}, {}
    for r in records:
        path = Path(r.path)
        things[str(path)] = r
        stuff_files[str(path)] = _stuff_path(path, images_dir, stuff_dir)
        out.append(
            PanopticImage(path.stem, path.name, yolo_label_path(path), r.width, r.height, [], path)
        )
    return PolygonPanopticSet(
        json_path=stuff_dir,
        png_dir=stuff_dir,
        images=out,
        categories=categories,
        things=things,
        stuff_files=stuff_files,
        num_things=len(names),
    )


@dataclass
class SemanticSet:
    """Images and their semantic label maps (class index per pixel, ``ignore`` unlabelled)."""

    images: list[Path]
    labels: list[Path]
    names: list[str]
    ignore: int
    source: str

    def __len__(self) -> int:
        return len(self.images)

    def read_label(self, i: int, shape: tuple[int, int]) -> np.ndarray:
        """Label map ``i`` as int32 (``ignore`` kept), checked against the image size and the
        class count."""
        path = self.labels[i]
        label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if label is None:
            raise DataError(f"{path}: cannot read the label map")
        if label.ndim != 2:
            raise DataError(
                f"{path}: a label map has one channel (class index per pixel), not {label.shape[2]}"
            )
        if label.shape != tuple(shape):
            raise DataError(
                f"{path}: {label.shape[1]}x{label.shape[0]} pixels, its image "
                f"{self.images[i].name} is {shape[1]}x{shape[0]}"
            )
        out = label.astype(np.int32)
        bad = (out != self.ignore) & ((out < 0) | (out >= len(self.names)))
        if bad.any():
            raise DataError(
                f"{path}: class {int(out[bad].max())} outside 0..{len(self.names) - 1} (and not "
                f"the ignore value {self.ignore})"
            )
        return out

    def read_image(self, i: int) -> np.ndarray:
        return read_image(self.images[i])


def read_semantic(
    images_dir: Path, labels_dir: Path, names: list[str], ignore: int, source: str
) -> SemanticSet:
    """Images and a PNG label map per image (same relative path, ``.png``)."""
    if not labels_dir.is_dir():
        raise DataError(f"{source}: label-map folder not found: {labels_dir}")
    files = _images(images_dir, source)
    labels = [labels_dir / f.relative_to(images_dir).with_suffix(".png") for f in files]
    missing = [p for p in labels if not p.is_file()]
    if missing:
        raise DataError(
            f"{source}: no label map {missing[0]} for image "
            f"{files[labels.index(missing[0])].name} ({len(missing)} missing)"
        )
    return SemanticSet(files, labels, names, ignore, source)


def _names(value: Any, key: str, source: str) -> list[str]:
    if isinstance(value, dict):
        return [str(value[k]) for k in sorted(value)]
    if isinstance(value, list) and value:
        return [str(n) for n in value]
    raise DataError(f"{source}: {key!r} must be a non-empty list of names")


def panoptic_split(
    data: str | Path, split: str = "val", *, need_images: bool = True
) -> PanopticSet | SemanticSet | None:
    """The split as panoptic (or semantic) ground truth, or None for instance data.

    Panoptic data: a COCO panoptic JSON given directly, or a data YAML whose split reads
    ``{images: DIR, panoptic: panoptic_val.json}`` (PNG folder: the JSON's path without
    ``.json``, or ``pngs: DIR``) or ``{images: DIR, stuff: DIR}`` (the authors' format, with
    ``names`` and ``stuff_names``). Semantic data: ``{images: DIR, semantic: DIR}`` with
    ``names`` (and ``ignore``, default 255).
    """
    path = Path(data).expanduser()
    if path.suffix == ".json":
        return read_panoptic(path, need_images=need_images) if is_panoptic_json(path) else None
    if not (path.is_file() or path.is_dir()):
        return None
    desc, root, source = read_description(path)
    spec = desc.get(split)
    kinds = {"panoptic", "stuff", "semantic"}
    if not isinstance(spec, dict) or not kinds & set(spec):
        if desc.get("stuff_names") and spec:
            raise DataError(
                f"{source}: 'stuff_names' declares panoptic data, but split {split!r} has no "
                f"stuff labels; write it as {split}: {{images: DIR, stuff: DIR}} (or "
                "panoptic: FILE.json)"
            )
        return None
    allowed = {"images", "pngs", "captions", *kinds}  # captions: the caption task's
    unknown = sorted(set(spec) - allowed)
    if unknown or len(kinds & set(spec)) > 1:
        raise DataError(
            f"{source}: {split}: expected images plus one of panoptic (and pngs), stuff or "
            f"semantic (and captions); got {sorted(spec)}"
        )

    def resolve(value: Any) -> Path:
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else root / p

    if "panoptic" in spec:
        return read_panoptic(
            resolve(spec["panoptic"]),
            resolve(spec["images"]) if spec.get("images") else None,
            resolve(spec["pngs"]) if spec.get("pngs") else None,
            need_images=need_images,
        )
    if not spec.get("images"):
        raise DataError(f"{source}: {split}: 'images' (the image folder) is required")
    names = _names(desc.get("names"), "names", source)
    if "stuff" in spec:
        stuff = _names(desc.get("stuff_names"), "stuff_names", source)
        return read_authors_panoptic(
            resolve(spec["images"]), resolve(spec["stuff"]), names, stuff, source
        )
    ignore = int(desc.get("ignore", 255))
    return read_semantic(resolve(spec["images"]), resolve(spec["semantic"]), names, ignore, source)
