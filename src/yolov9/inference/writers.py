"""Writing prediction output: annotated images and videos, and the detection records (with
instance masks as COCO RLE or polygons for segmentation results)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2

from yolov9.inference.result import Result


class _Writers:
    """Annotated-output files with unique names inside one folder."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.taken: set[str] = set()
        self.videos: dict[str, cv2.VideoWriter] = {}

    def unique(self, name: str) -> Path:
        stem, suffix = Path(name).stem, Path(name).suffix
        candidate, n = name, 2
        while candidate in self.taken:
            candidate, n = f"{stem}-{n}{suffix}", n + 1
        self.taken.add(candidate)
        return self.out / candidate

    def write(self, result: Result, index: int) -> None:
        if result.frame is None:
            name = Path(result.path).name if result.path else f"image{index}.jpg"
            result.save(self.unique(name))
            return
        key = str(result.path)
        if key not in self.videos:
            h, w = result.orig_shape
            path = self.unique(Path(key).stem + ".mp4")
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self.videos[key] = cv2.VideoWriter(str(path), fourcc, result.fps or 30.0, (w, h))
        self.videos[key].write(cv2.cvtColor(result.plot(), cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        for writer in self.videos.values():
            writer.release()


def save_results(
    results: Iterable[Result], out: Path | None, *, mask_format: str | None = "rle"
) -> tuple[list[dict[str, Any]], int, int]:
    """Consume ``results``; write annotated images/videos into ``out`` (if given), masks
    drawn for segmentation results.

    ``mask_format`` ("rle" or "polygon") is how each record holds its detection's mask
    (see :meth:`Result.records`); ``None`` leaves masks out of the records (no encoding cost
    when no JSON is written).

    Returns:
        (all detection records, number of images/frames, number of detections)
    """
    if mask_format not in (None, "rle", "polygon"):
        raise ValueError(f"mask_format must be 'rle' or 'polygon', got {mask_format!r}")
    writers = _Writers(out) if out is not None else None
    records: list[dict[str, Any]] = []
    n_images = 0
    try:
        for result in results:
            n_images += 1
            records.extend(result.records(mask_format))
            if writers is not None:
                writers.write(result, n_images)
    finally:
        if writers is not None:
            writers.close()
    return records, n_images, len(records)
