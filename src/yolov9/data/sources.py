"""Prediction sources: an image, a folder, a glob pattern, a video, or arrays."""

from __future__ import annotations

import glob
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from yolov9.data.images import IMAGE_SUFFIXES, read_image
from yolov9.errors import DataError

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpeg", ".mpg", ".wmv", ".gif"}


@dataclass
class Frame:
    """One image to run on: RGB uint8 pixels and where it came from."""

    image: np.ndarray
    path: str | None = None
    frame: int | None = None  # frame index inside a video
    fps: float | None = None  # the video's frame rate


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def list_media(source: str | Path) -> list[Path]:
    """Expand a source string into image and video files (sorted, existing).

    Raises:
        DataError: nothing exists at ``source`` or the folder/pattern holds no media.
    """
    text = str(source)
    path = Path(text).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
        )
        if not files:
            raise DataError(f"{path}: folder holds no images or videos")
        return files
    if any(c in text for c in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"{text}: pattern matches no files")
        return files
    raise DataError(f"source not found: {text} (expected an image, video, folder or glob pattern)")


def iter_video(path: Path) -> Iterator[Frame]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(f"{path}: cannot open video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    index = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), str(path), index, fps)
            index += 1
    finally:
        cap.release()
    if index == 0:
        raise DataError(f"{path}: video has no readable frames")


def iter_frames(files: list[Path], *, skipped: list[str] | None = None) -> Iterator[Frame]:
    """Frames of every file in order. With a ``skipped`` list, unreadable files among several
    are logged, recorded there and skipped; otherwise (or for a single file) they raise
    :class:`DataError`."""
    if len(files) == 1:
        skipped = None
    for path in files:
        try:
            if is_video(path):
                yield from iter_video(path)
            else:
                yield Frame(read_image(path), str(path))
        except DataError as e:
            if skipped is None:
                raise
            log.warning("skipped %s", e)
            skipped.append(str(path))
