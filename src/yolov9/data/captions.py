"""Caption data: COCO captions JSON (``captions_*.json``: ``images`` with ``id``,
``file_name``, and ``annotations`` with ``image_id`` and ``caption``), several captions per
image, and COCO caption results files (a list of ``{"image_id", "caption"}``).

For one's own data there is a plain form too, JSON lines (``.jsonl``): one line per image,
``{"image": "photos/a.jpg", "captions": ["a dog on a sofa", "..."]}`` (an optional ``"id"``;
otherwise the line number is the image id; image paths relative to the split's images folder,
or else to the file's folder).

A data YAML names a caption split ``{images: DIR, captions: captions_val.json}`` (or a
``.jsonl`` file); a captions JSON or JSON-lines file may also be given directly. Problems
that leave the data usable are counted and logged once, naming an example (empty captions,
captions of images the file does not list, images without a caption); an unreadable or
malformed file is one error naming it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolov9.data.dataset import read_description
from yolov9.errors import DataError
from yolov9.utils.paths import annotations_with, read_json

log = logging.getLogger(__name__)


@dataclass
class CaptionSet:
    """The captions of one split: image id -> file name, image id -> its captions."""

    source: Path
    files: dict[Any, str]
    captions: dict[Any, list[str]]
    images_dir: Path | None = None
    problems: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.captions)


def is_captions_json(path: str | Path) -> bool:
    """Whether ``path`` is a COCO captions JSON (annotations with ``caption``)."""
    return annotations_with(path, "caption")


def _caption_set(
    path: Path,
    files: dict[Any, str],
    captions: dict[Any, list[str]],
    images_dir: str | Path | None,
    problems: list[str],
) -> CaptionSet:
    """The split read, its problems logged once each; refused when no image has a caption."""
    for problem in problems:
        log.warning("%s: %s", path, problem)
    if not captions:
        raise DataError(f"{path}: no image has a caption")
    folder = Path(images_dir) if images_dir is not None else None
    return CaptionSet(path, files, captions, folder, problems)


def read_caption_lines(path: str | Path, images_dir: str | Path | None = None) -> CaptionSet:
    """Read captions in JSON lines (module docstring).

    Raises:
        DataError: an unreadable file, a line that is not a JSON object with ``image`` and a
            list of ``captions`` (naming the line), or no caption at all.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    files: dict[Any, str] = {}
    captions: dict[Any, list[str]] = {}
    empty, without = 0, []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as e:
            raise DataError(f"{path}:{n}: not a JSON object ({e})") from None
        texts = entry.get("captions") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or "image" not in entry or not isinstance(texts, list):
            raise DataError(f"{path}:{n}: needs 'image' and a list of 'captions'")
        image_id = entry.get("id", n)
        if image_id in files:
            raise DataError(f"{path}:{n}: image id {image_id!r} appears twice")
        files[image_id] = str(entry["image"])
        kept = [str(t).strip() for t in texts if str(t).strip()]
        empty += len(texts) - len(kept)
        if kept:
            captions[image_id] = kept
        else:
            without.append(n)
    problems = []
    if empty:
        problems.append(f"{empty} empty caption(s) skipped")
    if without:
        problems.append(f"{len(without)} image(s) without a caption (e.g. line {without[0]})")
    return _caption_set(path, files, captions, images_dir, problems)


def read_captions(path: str | Path, images_dir: str | Path | None = None) -> CaptionSet:
    """Read a COCO captions JSON (or JSON lines, ``.jsonl``: :func:`read_caption_lines`).

    Raises:
        DataError: unreadable JSON, no ``annotations``, an entry without ``image_id`` or
            ``caption``, or no image with a caption at all.
    """
    path = Path(path)
    if path.suffix == ".jsonl":
        return read_caption_lines(path, images_dir)
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise DataError(f"{path}: a COCO captions JSON needs an 'annotations' list")
    files: dict[Any, str] = {}
    for i, image in enumerate(doc.get("images", [])):
        if not isinstance(image, dict) or "id" not in image:
            raise DataError(f"{path}: images[{i}] needs an 'id'")
        files[image["id"]] = str(image.get("file_name", ""))
    captions: dict[Any, list[str]] = {}
    empty, unknown = [], []
    for i, ann in enumerate(doc["annotations"]):
        if not isinstance(ann, dict) or "image_id" not in ann or "caption" not in ann:
            raise DataError(f"{path}: annotations[{i}] needs 'image_id' and 'caption'")
        text = str(ann["caption"]).strip()
        if not text:
            empty.append(i)
            continue
        if files and ann["image_id"] not in files:
            unknown.append(ann["image_id"])
            continue
        captions.setdefault(ann["image_id"], []).append(text)
    problems = []
    if empty:
        problems.append(f"{len(empty)} empty caption(s) skipped (e.g. annotations[{empty[0]}])")
    if unknown:
        problems.append(
            f"{len(unknown)} caption(s) of images not in 'images' skipped (e.g. image "
            f"{unknown[0]!r})"
        )
    without = [i for i in files if i not in captions]
    if without:
        problems.append(f"{len(without)} image(s) without a caption (e.g. image {without[0]!r})")
    return _caption_set(path, files, captions, images_dir, problems)


def caption_split(data: str | Path, split: str = "val") -> CaptionSet | None:
    """The split as caption data, or None when ``data`` is not caption data: a captions JSON
    given directly, or a data YAML whose split reads ``{images: DIR, captions: FILE}``."""
    path = Path(data).expanduser()
    if path.suffix == ".jsonl":
        return read_captions(path)
    if path.suffix == ".json":
        return read_captions(path) if is_captions_json(path) else None
    if not (path.is_file() or path.is_dir()):
        return None
    desc, root, _ = read_description(path)
    spec = desc.get(split)
    if not isinstance(spec, dict) or "captions" not in spec:
        return None

    def resolve(value: Any) -> Path:
        p = Path(str(value)).expanduser()
        return p if p.is_absolute() else root / p

    images = resolve(spec["images"]) if spec.get("images") else None
    return read_captions(resolve(spec["captions"]), images)


def read_caption_results(path: str | Path, truth: CaptionSet) -> dict[Any, str]:
    """A COCO caption results file: one caption per image of ``truth``.

    Raises:
        DataError: not a list of ``{"image_id", "caption"}``, an image twice, or an image the
            captions file does not have.
    """
    entries = read_json(path)
    if not isinstance(entries, list) or not entries:
        raise DataError(f"{path}: expected a non-empty JSON list of {{image_id, caption}}")
    out: dict[Any, str] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "image_id" not in entry or "caption" not in entry:
            raise DataError(f"{path}: entry {i} needs 'image_id' and 'caption'")
        image_id = entry["image_id"]
        if image_id in out:
            raise DataError(f"{path}: image {image_id!r} has two captions (entry {i})")
        if image_id not in truth.captions:
            raise DataError(
                f"{path}: entry {i}: image {image_id!r} has no reference caption in "
                f"{truth.source.name}"
            )
        out[image_id] = str(entry["caption"])
    return out
