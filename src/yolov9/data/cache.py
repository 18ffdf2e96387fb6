"""A safe cache of parsed labels: NumPy arrays and JSON in an ``.npz`` (no pickle).

The key is a hash of every input file's path, size and modification time (and the reader's
settings), so any change to an image or label file invalidates it.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from yolov9.data.labels import (
    ImageLabels,
    Issue,
    LabelIssue,
    LabelReport,
    pack_segmentations,
    unpack_segmentations,
)
from yolov9.utils.paths import cache_dir

log = logging.getLogger(__name__)
VERSION = 2  # 2: paths as UTF-8 bytes
UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)
"""What reading a damaged ``.npz`` raises (an empty file: EOFError; a truncated one:
BadZipFile): such a cache is ignored and written again."""


@contextlib.contextmanager
def bulk() -> Iterator[None]:
    """No cyclic garbage collection while building or taking apart many small objects (the
    records of a split): every collection rescans all live objects, so with it the time
    grew faster than the image count (10k -> 100k images: x12 to x50). None of these
    objects form cycles; the collector is back on, as it was, afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def cache_root() -> Path:
    return cache_dir() / "datasets"


def fingerprint(files: Iterable[Path], settings: dict[str, Any]) -> str:
    h = hashlib.sha256(json.dumps({"v": VERSION, **settings}, sort_keys=True).encode())
    for f in files:
        try:
            st = os.stat(f)
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f}\0missing\n".encode())
    return h.hexdigest()


def save(path: Path, records: list[ImageLabels], report: LabelReport, meta: dict[str, Any]) -> None:
    with bulk():
        arrays = _arrays(records, report, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _arrays(
    records: list[ImageLabels], report: LabelReport, meta: dict[str, Any]
) -> dict[str, np.ndarray]:
    seg_sizes, seg_points = [], []
    has_segments = []
    for r in records:
        has_segments.append(r.segments is not None)
        for poly in r.segments or []:
            seg_sizes.append(len(poly))
            seg_points.append(poly)
    # paths as UTF-8 bytes and lengths: a fixed-width string array would give every path the
    # room of the longest (in UTF-32), and one long path would bloat the file N times over
    encoded = [r.path.encode("utf-8", "surrogatepass") for r in records]
    arrays: dict[str, np.ndarray] = {
        "path_bytes": np.frombuffer(b"".join(encoded), np.uint8),
        "path_lengths": np.array([len(e) for e in encoded], np.int64),
        "sizes": np.fromiter(
            (v for r in records for v in (r.width, r.height, r.image_id)), np.int64
        ).reshape(-1, 3),
        "counts": np.array([len(r.classes) for r in records], np.int64),
        "boxes": np.concatenate([r.boxes for r in records] or [np.zeros((0, 4))]).astype(
            np.float32
        ),
        "classes": np.concatenate([r.classes for r in records] or [np.zeros(0)]).astype(np.int64),
        "crowd": np.concatenate([r.crowd for r in records] or [np.zeros(0)]).astype(bool),  # type: ignore[misc]
        "areas": np.concatenate([r.areas for r in records] or [np.zeros(0)]).astype(np.float32),  # type: ignore[misc]
        "has_segments": np.array(has_segments, bool),
        "seg_sizes": np.array(seg_sizes, np.int64),
        "seg_points": np.concatenate(seg_points or [np.zeros((0, 2))]).astype(np.float32),
    }
    issues = [[i.kind.name, i.file, i.line, i.message] for i in report.issues]
    arrays["meta"] = np.array(json.dumps({**meta, "issues": issues}))
    return arrays


def load(path: Path) -> tuple[list[ImageLabels], list[LabelIssue], dict[str, Any]] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
        with bulk():
            records = _records(arrays)
            issues = [LabelIssue(Issue[k], f, line, m) for k, f, line, m in meta.pop("issues")]
    except UNREADABLE as e:
        log.debug("ignoring unreadable label cache %s (%s)", path, e)
        return None
    return records, issues, meta


def _records(arrays: dict[str, np.ndarray]) -> list[ImageLabels]:
    """The records of :func:`save`'s arrays (views into them)."""
    total = int(arrays["counts"].sum())
    for key in ("boxes", "classes", "crowd", "areas"):
        if len(arrays[key]) != total:
            raise ValueError(f"{key}: {len(arrays[key])} rows for {total} objects")
    text = arrays["path_bytes"].tobytes()
    ends = np.cumsum(arrays["path_lengths"])
    starts = ends - arrays["path_lengths"]
    paths = [
        text[a:b].decode("utf-8", "surrogatepass")
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]
    records = []
    box_start, seg_box = 0, 0
    seg_offsets = np.concatenate(([0], np.cumsum(arrays["seg_sizes"])))
    for path_str, (w, h, image_id), n, has_seg in zip(
        paths, arrays["sizes"], arrays["counts"], arrays["has_segments"], strict=True
    ):
        sl = slice(box_start, box_start + int(n))
        segments = None
        if has_seg:
            segments = [
                arrays["seg_points"][seg_offsets[k] : seg_offsets[k + 1]]
                for k in range(seg_box, seg_box + int(n))
            ]
            seg_box += int(n)
        records.append(
            ImageLabels(
                path_str,
                int(w),
                int(h),
                arrays["boxes"][sl],
                arrays["classes"][sl],
                int(image_id),
                arrays["crowd"][sl],
                arrays["areas"][sl],
                segments,
            )
        )
        box_start += int(n)
    return records


def masks_path(cache_file: Path) -> Path:
    """Where the exact masks of a label cache's records are kept."""
    return cache_file.with_name(cache_file.name.removesuffix(".npz") + ".masks.npz")


def save_masks(path: Path, records: list[ImageLabels]) -> None:
    """The records' segmentations beside the label cache (which keeps only ``segments``)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **pack_segmentations(records))
    os.replace(tmp, path)


def load_masks(path: Path, records: list[ImageLabels]) -> bool:
    """Fill the records' segmentations from ``path``; False if it is missing or stale."""
    try:
        with np.load(path, allow_pickle=False) as z:
            unpack_segmentations({k: z[k] for k in z.files}, records)
    except (*UNREADABLE, StopIteration) as e:
        log.debug("ignoring mask cache %s (%s)", path, e)
        return False
    return True


def load_with_masks(
    cache_file: Path,
) -> tuple[list[ImageLabels], list[LabelIssue], dict[str, Any]] | None:
    """A label cache with its records' exact masks (:func:`load`, :func:`load_masks`), or
    None when either is missing, unreadable or stale."""
    cached = load(cache_file) if cache_file.is_file() else None
    if cached is None or not load_masks(masks_path(cache_file), cached[0]):
        return None
    return cached


def save_with_masks(
    cache_file: Path, records: list[ImageLabels], report: LabelReport, meta: dict[str, Any]
) -> None:
    """Write a label cache and its masks; a cache that cannot be written is a warning."""
    try:
        save(cache_file, records, report, meta)
        save_masks(masks_path(cache_file), records)
    except OSError as e:
        log.warning("could not write the label cache %s (%s)", cache_file, e)
