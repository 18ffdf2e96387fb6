"""One dataset description for three formats, and one reader interface.

A description is a YAML file::

    path: /data/my-set          # root; default: the YAML's folder
    format: yolo                # yolo | coco | voc; default: inferred from the splits
    train: images/train         # YOLO: folder, .txt list of images, or a list of those
    val: images/val
    names: [cat, dog]           # or {0: cat, 1: dog}; COCO takes names from its JSON

    # COCO: train: {images: images/train2017, annotations: annotations/train.json}
    #       (or just the JSON path; images then default to ../images or the JSON's folder)
    # VOC:  train: {images: JPEGImages, annotations: Annotations, list: ImageSets/Main/train.txt}
    #       (instance masks: masks: SegmentationObject; default: that folder beside the images)

``load_dataset`` also accepts a COCO JSON file, or a folder holding ``data.yaml``, a YOLO
layout (``images/`` + ``labels/``) or a COCO layout (``annotations/*.json`` + ``images/``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from yolov9.data import cache
from yolov9.data.coco80 import COCO80_TO_91, is_coco80
from yolov9.data.formats import (
    read_coco,
    read_voc,
    read_yolo,
    voc_class_names,
    voc_mask_path,
    yolo_label_path,
)
from yolov9.data.images import IMAGE_SUFFIXES
from yolov9.data.labels import (
    ImageLabels,
    LabelReport,
)
from yolov9.errors import ConfigError, DataError

log = logging.getLogger(__name__)

FORMATS = ("yolo", "coco", "voc")
SPLITS = ("train", "val", "test")
# stuff_names, ignore: panoptic and semantic data (yolov9.data.panoptic_formats)
_KEYS = {"path", "format", "names", "nc", "download", "stuff_names", "ignore", *SPLITS}


@dataclass
class DetectionDataset:
    """The labelled images of one split, with class names and their COCO category ids."""

    records: list[ImageLabels]
    names: list[str]
    category_ids: list[int]
    report: LabelReport
    format: str
    split: str

    def __len__(self) -> int:
        return len(self.records)

    @property
    def mask_coverage(self) -> tuple[int, int]:
        """(non-crowd objects with an instance mask, non-crowd objects)."""
        with_mask = total = 0
        for r in self.records:
            assert r.crowd is not None
            segs = r.object_segmentations()
            for seg, crowd in zip(segs, r.crowd.tolist(), strict=True):
                total += not crowd
                with_mask += not crowd and seg is not None
        return with_mask, total

    @property
    def has_masks(self) -> bool:
        """True when the split has objects and every non-crowd one has an instance mask
        (``ImageLabels.object_segmentations``): mask training and mask AP are possible."""
        with_mask, total = self.mask_coverage
        return total > 0 and with_mask == total


def _names(raw: Any, source: str) -> list[str] | None:
    if raw is None:
        return None
    if isinstance(raw, dict):
        keys = sorted(raw)
        if keys != list(range(len(keys))):
            raise ConfigError(f"{source}: 'names' keys must be 0..{len(keys) - 1}, got {keys}")
        return [str(raw[k]) for k in keys]
    if isinstance(raw, list) and raw:
        return [str(n) for n in raw]
    raise ConfigError(f"{source}: 'names' must be a non-empty list or a {{id: name}} mapping")


def _resolve(root: Path, value: str | Path) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else root / p


def _infer_format(spec: Any) -> str:
    if isinstance(spec, dict):
        ann = str(spec.get("annotations", ""))
        return "coco" if ann.endswith(".json") else "voc"
    if isinstance(spec, str) and spec.endswith(".json"):
        return "coco"
    return "yolo"


def _yolo_images(root: Path, spec: Any, source: str) -> list[Path]:
    entries = spec if isinstance(spec, list) else [spec]
    files: list[Path] = []
    for entry in entries:
        p = _resolve(root, entry)
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.suffix == ".txt" and p.is_file():
            lines = [x.strip() for x in p.read_text().splitlines() if x.strip()]
            files += [_resolve(p.parent, x) for x in lines]
        else:
            raise DataError(
                f"{source}: split entry {entry!r} is neither a folder nor a .txt list ({p})"
            )
    if not files:
        raise DataError(f"{source}: no images found for {spec!r}")
    return files


def _coco_paths(root: Path, spec: Any, source: str) -> tuple[Path, list[Path]]:
    """The annotation file and the image folder(s) to try, most likely first."""
    if isinstance(spec, dict):
        if "annotations" not in spec:
            raise ConfigError(f"{source}: a COCO split needs 'annotations' (the JSON file)")
        ann = _resolve(root, spec["annotations"])
        images = _resolve(root, spec["images"]) if "images" in spec else None
    else:
        ann, images = _resolve(root, spec), None
    if not ann.is_file():
        raise DataError(f"{source}: annotation file not found: {ann}")
    if images is not None:
        return ann, [images]
    # COCO layouts: <root>/annotations/instances_val2017.json with images in
    # <root>/images/val2017, <root>/val2017, <root>/images, or beside the JSON
    name = ann.stem.removeprefix("instances_")
    top = ann.parent.parent
    candidates = [
        top / "images" / name,
        top / name,
        top / "images",
        ann.parent / "images",
        ann.parent,
    ]
    return ann, [c for c in candidates if c.is_dir()] or [ann.parent]


def _voc_files(root: Path, spec: Any, source: str) -> tuple[list[Path], Path]:
    if not isinstance(spec, dict) or "annotations" not in spec or "images" not in spec:
        raise ConfigError(f"{source}: a VOC split needs 'images' and 'annotations' folders")
    ann_dir, images = _resolve(root, spec["annotations"]), _resolve(root, spec["images"])
    if "list" in spec:
        ids = _resolve(root, spec["list"]).read_text().split()
        return [ann_dir / f"{i}.xml" for i in ids], images
    return sorted(ann_dir.glob("*.xml")), images


def _voc_masks_dir(root: Path, spec: dict, images: Path, source: str) -> Path | None:
    """The split's ``masks`` folder, else ``SegmentationObject`` beside the images, if any."""
    if "masks" in spec:
        masks = _resolve(root, spec["masks"])
        if not masks.is_dir():
            raise DataError(f"{source}: VOC masks folder not found: {masks}")
        return masks
    default = images.parent / "SegmentationObject"
    return default if default.is_dir() else None


def read_description(data: str | Path) -> tuple[dict[str, Any], Path, str]:
    """(description dict, root folder, source name) for a YAML, a COCO JSON or a folder."""
    path = Path(data).expanduser()
    if path.is_dir():
        for name in ("data.yaml", "dataset.yaml"):
            if (path / name).is_file():
                return read_description(path / name)
        jsons = (
            sorted((path / "annotations").glob("*.json")) if (path / "annotations").is_dir() else []
        )
        if jsons:
            return {"format": "coco", "val": str(jsons[0])}, path, str(path)
        if (path / "images").is_dir():
            return {"format": "yolo", "val": "images"}, path, str(path)
        raise DataError(f"{path}: no data.yaml, images/ or annotations/*.json inside")
    if path.suffix == ".json":
        return {"format": "coco", "val": str(path)}, path.parent, str(path)
    if not path.is_file():
        raise DataError(f"dataset description not found: {data}")
    try:
        desc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({e})") from None
    if not isinstance(desc, dict):
        raise ConfigError(f"{path}: expected a mapping with train/val/names keys")
    if "mixture" in desc:
        raise DataError(
            f"{path} is a mixture of datasets, which only training reads; give one dataset "
            "here (e.g. the mixture's val dataset)"
        )
    unknown = sorted(set(desc) - _KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    root = _resolve(path.parent, desc["path"]) if desc.get("path") else path.parent
    return desc, root, str(path)


def load_dataset(
    data: str | Path, split: str = "val", *, use_cache: bool = True
) -> DetectionDataset:
    """Read and validate one split of a dataset (see the module docstring for the forms).

    Raises:
        ConfigError, DataError: a bad description, or a split with no usable image.
    """
    desc, root, source = read_description(data)
    if split not in desc or desc[split] in (None, ""):
        if split == "val" and "train" in desc:
            raise DataError(f"{source}: no 'val' split (add one, or pass --split train)")
        raise DataError(f"{source}: no {split!r} split")
    spec = desc[split]
    fmt = str(desc.get("format") or _infer_format(spec)).lower()
    if fmt not in FORMATS:
        raise ConfigError(f"{source}: format must be one of {FORMATS}, got {fmt!r}")
    names = _names(desc.get("names"), source)
    if "nc" in desc and names is not None and int(desc["nc"]) != len(names):
        raise ConfigError(f"{source}: nc={desc['nc']} but {len(names)} names")
    report = LabelReport(split=f"{Path(source).name}:{split}")

    if fmt == "yolo":
        if names is None:
            raise ConfigError(f"{source}: YOLO datasets need 'names' (class names by id)")
        images = _yolo_images(root, spec, source)
        inputs = images + [yolo_label_path(p) for p in images]
        settings = {"fmt": fmt, "names": names}

        def parse() -> tuple[list[ImageLabels], list[str], list[int]]:
            ids = COCO80_TO_91 if is_coco80(names) else list(range(len(names)))
            return read_yolo(images, len(names), report), names, ids
    elif fmt == "coco":
        ann, image_dirs = _coco_paths(root, spec, source)
        inputs, settings = [ann, *image_dirs], {"fmt": fmt}

        def parse() -> tuple[list[ImageLabels], list[str], list[int]]:
            records, coco_names, ids = read_coco(ann, image_dirs, report)
            if names is not None and names != coco_names:
                raise ConfigError(f"{source}: 'names' differ from the categories in {ann}")
            return records, coco_names, ids
    else:
        xml_files, images_dir = _voc_files(root, spec, source)
        masks_dir = _voc_masks_dir(root, spec, images_dir, source)
        names = names or voc_class_names(xml_files)
        voc_names = names
        inputs = [*xml_files, images_dir]
        if masks_dir is not None:  # the PNGs of the listed images, present or not
            stems = [f.stem for f in xml_files]
            inputs += [masks_dir, *(voc_mask_path(masks_dir, Path(s)) for s in stems)]
        settings = {"fmt": fmt, "names": names, "masks": str(masks_dir)}

        def parse() -> tuple[list[ImageLabels], list[str], list[int]]:
            return (
                read_voc(xml_files, images_dir, voc_names, report, masks_dir),
                voc_names,
                list(range(len(voc_names))),
            )

    settings["segmentations"] = 1  # version of the mask representation (``_masks_cache``)
    key = cache.fingerprint(inputs, {**settings, "root": str(root.resolve()), "split": split})
    cache_file = cache.cache_root() / f"{key[:32]}.npz"
    cached = cache.load_with_masks(cache_file) if use_cache else None
    if cached is not None:
        records, issues, meta = cached
        report.issues = issues
        names_out, ids = meta["names"], meta["category_ids"]
        log.debug("labels from cache %s", cache_file)
    else:
        records, names_out, ids = parse()
        if use_cache:
            meta = {"names": names_out, "category_ids": ids}
            cache.save_with_masks(cache_file, records, report, meta)
    report.images = len(records)
    report.boxes = sum(len(r.classes) for r in records)
    report.masks = sum(s is not None for r in records for s in r.segmentations or [])
    if not records:
        raise DataError(f"{source}: no usable image in split {split!r}. {report.summary()}")
    dataset = DetectionDataset(records, list(names_out), list(ids), report, fmt, split)
    with_mask, total = dataset.mask_coverage
    if 0 < with_mask < total:
        log.warning(
            "%s: %d of %d objects have no instance mask, so the split has no mask ground truth "
            "(boxes are kept)",
            report.split,
            total - with_mask,
            total,
        )
    return dataset
