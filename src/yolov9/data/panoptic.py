"""COCO panoptic datasets: ``panoptic_*.json`` plus a folder of PNGs whose RGB encodes each
pixel's segment id (``id = R + 256 G + 256^2 B``, 0 = void), as COCO ships them.

The JSON holds ``images`` (``id``, ``file_name``, ``width``, ``height``), ``annotations`` (one
per image: ``image_id``, ``file_name`` of its PNG, ``segments_info`` with ``id``,
``category_id``, ``iscrowd``, ``bbox``, ``area``) and ``categories`` (``id``, ``name``,
``isthing``). The PNG folder is the JSON's path without ``.json`` unless given; the images
are looked up beside it (``images/``, the split's name without ``panoptic_``, e.g. ``val2017``).

From one image the set gives the panoptic ground truth (segment ids, checked against the JSON),
the semantic ground truth (category per pixel, void ignored, crowd regions labelled) and the
instance ground truth of the things (boxes, RLE masks, crowd regions) for box and mask AP.
Every disagreement between a PNG and the JSON is one line naming the file and segment id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolov9.data.images import IMAGE_SUFFIXES, read_image
from yolov9.errors import DataError
from yolov9.ops.masks import encode_rle
from yolov9.utils.paths import annotations_with, read_json

IGNORE = -1  # semantic ground truth of void pixels


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) int64 segment ids."""
    c = rgb.astype(np.int64)
    return c[..., 0] + 256 * c[..., 1] + 65536 * c[..., 2]


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """(H, W) segment ids -> (H, W, 3) uint8 RGB, the inverse of :func:`rgb_to_id`."""
    c = ids.astype(np.uint32)
    return np.stack([c & 255, (c >> 8) & 255, (c >> 16) & 255], axis=-1).astype(np.uint8)


@dataclass
class PanopticImage:
    """One image of a panoptic set."""

    image_id: Any
    file_name: str  # the image's
    png: Path
    width: int
    height: int
    segments: list[dict[str, Any]]
    image: Path | None = None  # None: not found (enough to score a results file)


@dataclass
class InstanceTruth:
    """The things of one image: xyxy boxes, category indices, crowd flags, areas, RLE masks."""

    boxes: np.ndarray
    classes: np.ndarray
    crowd: np.ndarray
    areas: np.ndarray
    rles: list[dict[str, Any]]


@dataclass
class PanopticSet:
    """A COCO panoptic split: its images, their PNGs and the categories (in file order)."""

    json_path: Path
    png_dir: Path
    images: list[PanopticImage]
    categories: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def names(self) -> list[str]:
        return [str(c["name"]) for c in self.categories]

    @property
    def isthing(self) -> list[bool]:
        return [bool(c.get("isthing", 0)) for c in self.categories]

    @property
    def category_index(self) -> dict[int, int]:
        """COCO category id -> position in :attr:`categories`."""
        return {int(c["id"]): i for i, c in enumerate(self.categories)}

    def read_ids(self, image: PanopticImage) -> np.ndarray:
        """The image's segment ids, checked: the PNG has the image's size, and every id in
        the PNG has a segment in the JSON and the reverse."""
        ids = rgb_to_id(read_image(image.png))
        if ids.shape != (image.height, image.width):
            raise DataError(
                f"{image.png}: {ids.shape[1]}x{ids.shape[0]} pixels, but {self.json_path.name} "
                f"says image {image.image_id!r} is {image.width}x{image.height}"
            )
        in_png = set(np.unique(ids).tolist()) - {0}
        in_json = {int(s["id"]) for s in image.segments}
        if in_png - in_json:
            raise DataError(
                f"{image.png}: segment id {min(in_png - in_json)} is in the PNG but not in "
                f"{self.json_path.name} (image {image.image_id!r})"
            )
        if in_json - in_png:
            raise DataError(
                f"{self.json_path.name}: image {image.image_id!r}, segment id "
                f"{min(in_json - in_png)} has no pixel in {image.png.name}"
            )
        return ids

    def semantic_truth(self, ids: np.ndarray, image: PanopticImage) -> np.ndarray:
        """(H, W) int32 category index per pixel (crowd regions too), ``IGNORE`` on void."""
        index = self.category_index
        lut_keys = np.array([0] + [int(s["id"]) for s in image.segments], np.int64)
        lut_vals = np.array(
            [IGNORE] + [index[int(s["category_id"])] for s in image.segments], np.int32
        )
        order = np.argsort(lut_keys)
        pos = np.searchsorted(lut_keys[order], ids)
        return lut_vals[order][pos]

    def instance_truth(self, ids: np.ndarray, image: PanopticImage) -> InstanceTruth:
        """The image's thing segments as instance ground truth (masks from the PNG)."""
        index, isthing = self.category_index, self.isthing
        boxes, classes, crowd, areas, rles = [], [], [], [], []
        for s in image.segments:
            c = index[int(s["category_id"])]
            if not isthing[c]:
                continue
            mask = ids == int(s["id"])
            ys, xs = np.nonzero(mask)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            classes.append(c)
            crowd.append(bool(s.get("iscrowd", 0)))
            areas.append(float(s.get("area", mask.sum())))
            rles.append(encode_rle(mask))
        return InstanceTruth(
            np.array(boxes, np.float32).reshape(-1, 4),
            np.array(classes, np.int64),
            np.array(crowd, bool),
            np.array(areas, np.float32),
            rles,
        )


def is_panoptic_json(path: str | Path) -> bool:
    """Whether ``path`` is a COCO panoptic JSON (annotations with ``segments_info``)."""
    return annotations_with(path, "segments_info")


def _image_dirs(json_path: Path, images: str | Path | None, png_dir: Path) -> list[Path]:
    """Where the images may be (never the PNG folder)."""
    if images is not None:
        return [Path(images)]
    split = json_path.stem.removeprefix("panoptic_")
    here = json_path.parent
    candidates = [
        here / "images" / split,
        here / "images",
        here.parent / "images" / split,
        here.parent / "images",
        here.parent / split,
        here / split,
        here,
    ]
    return [d for d in candidates if d.resolve() != png_dir.resolve()]


def read_panoptic(
    json_path: str | Path,
    images: str | Path | None = None,
    pngs: str | Path | None = None,
    *,
    need_images: bool = True,
) -> PanopticSet:
    """Read a COCO panoptic JSON (checked: categories, segment categories, one annotation per
    image); PNGs are checked as they are read (:meth:`PanopticSet.read_ids`).

    Raises:
        DataError: an unreadable or malformed file, a segment of an unknown category, an image
            without its annotation, or (``need_images``) an image file not found.
    """
    json_path = Path(json_path)
    doc = read_json(json_path)
    if not isinstance(doc, dict) or not all(k in doc for k in ("annotations", "categories")):
        raise DataError(f"{json_path}: a COCO panoptic JSON needs 'annotations' and 'categories'")
    categories = list(doc["categories"])
    for i, c in enumerate(categories):
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise DataError(f"{json_path}: categories[{i}] needs 'id' and 'name'")
    known = {int(c["id"]) for c in categories}
    png_dir = Path(pngs) if pngs is not None else json_path.with_suffix("")
    info: dict[Any, dict[str, Any]] = {}
    for i, img in enumerate(doc.get("images", [])):
        missing = [k for k in ("id", "file_name", "width", "height") if k not in img]
        if missing:
            raise DataError(f"{json_path}: images[{i}] lacks {', '.join(missing)}")
        info[img["id"]] = img
    dirs = _image_dirs(json_path, images, png_dir)
    out: list[PanopticImage] = []
    seen: set[Any] = set()
    for i, ann in enumerate(doc["annotations"]):
        if not isinstance(ann, dict) or not {"image_id", "file_name"} <= set(ann):
            raise DataError(f"{json_path}: annotations[{i}] needs image_id and file_name")
        image_id = ann["image_id"]
        if image_id in seen:
            raise DataError(f"{json_path}: image {image_id!r} has two annotations")
        seen.add(image_id)
        for s in ann.get("segments_info", []):
            if int(s.get("category_id", -1)) not in known:
                raise DataError(
                    f"{json_path}: image {image_id!r}, segment id {s.get('id')}: unknown "
                    f"category {s.get('category_id')!r}"
                )
        meta = info.get(image_id)
        if meta is None:
            raise DataError(f"{json_path}: annotation of image {image_id!r}, not in 'images'")
        file_name = str(meta["file_name"])
        found = next((d / file_name for d in dirs if (d / file_name).is_file()), None)
        if found is None and need_images:
            stem = Path(file_name).stem
            other = (d / (stem + suffix) for d in dirs for suffix in IMAGE_SUFFIXES)
            found = next((p for p in other if p.is_file()), None)
            if found is None:
                raise DataError(
                    f"{json_path}: image {file_name} not found in {dirs[0]} or beside the JSON; "
                    "give the folder (data YAML 'images:')"
                )
        out.append(
            PanopticImage(
                image_id=image_id,
                file_name=file_name,
                png=png_dir / str(ann["file_name"]),
                width=int(meta["width"]),
                height=int(meta["height"]),
                segments=list(ann.get("segments_info", [])),
                image=found,
            )
        )
    unannotated = [i for i in info if i not in seen]
    if unannotated:
        raise DataError(f"{json_path}: image {unannotated[0]!r} has no annotation")
    if not out:
        raise DataError(f"{json_path}: no annotated image")
    return PanopticSet(json_path, png_dir, out, categories)
