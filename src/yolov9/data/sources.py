"""Prediction sources: an image, a folder, a glob pattern, a video, arrays, or a live stream
(a webcam index, an RTSP/RTMP/HTTP/TCP/UDP URL) read by OpenCV."""

from __future__ import annotations

import glob
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def frame_rate(reported: float) -> float:
    """A source's reported frame rate, or 30 where it is missing or implausible (network
    streams often report their time base, 90000, or inf/nan)."""
    fps = float(reported)
    return fps if math.isfinite(fps) and 0.0 < fps <= 1000.0 else 30.0


def iter_video(path: Path, vid_stride: int = 1) -> Iterator[Frame]:
    """Every ``vid_stride``-th frame of a video file (all of them: a file never drops)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(f"{path}: cannot open video")
    fps = frame_rate(cap.get(cv2.CAP_PROP_FPS))
    index = 0
    read = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            read += 1
            yield Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), str(path), index, fps)
            index += 1
            for _ in range(vid_stride - 1):
                if not cap.grab():
                    break
                index += 1
    finally:
        cap.release()
    if read == 0:
        raise DataError(f"{path}: video has no readable frames")


STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "tcp://", "udp://")


def is_stream(source: object) -> bool:
    """A webcam index (``0``, ``"1"``) or a stream URL."""
    if isinstance(source, int):
        return True
    text = str(source).strip()
    return text.isdigit() or text.lower().startswith(STREAM_SCHEMES)


def open_capture(source: str | int, timeout_s: float = 10.0) -> Any:
    """An opened ``cv2.VideoCapture`` for a webcam index or URL.

    Raises:
        DataError: the camera or URL cannot be opened (one line, naming it).
    """
    text = str(source).strip()
    if text.isdigit():
        cap = cv2.VideoCapture(int(text))
        what = f"camera {text}"
    else:
        ms = int(timeout_s * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        quiet = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our error says it
        try:
            cap = cv2.VideoCapture(text, cv2.CAP_FFMPEG, params)
        finally:
            cv2.utils.logging.setLogLevel(quiet)
        what = text
    if not cap.isOpened():
        cap.release()
        raise DataError(
            f"{what}: cannot open the stream (unreachable, refused, or not a video OpenCV's "
            "FFmpeg can read; check the URL or camera index)"
        )
    return cap


class FrameQueue:
    """A bounded frame buffer between a reader thread and the model: when the model falls
    behind, the oldest frame is dropped (and counted) instead of memory growing; with
    ``drop=False`` the reader waits instead (a recorded video served over the network)."""

    def __init__(self, maxlen: int = 4, drop: bool = True) -> None:
        self.frames: deque[Frame] = deque(maxlen=max(1, maxlen))
        self.drop = drop
        self.dropped = 0
        self.most = 0  # the most frames ever held at once
        self.done = False
        self.error: BaseException | None = None
        self._cond = threading.Condition()

    def put(self, frame: Frame) -> None:
        with self._cond:
            while not self.drop and len(self.frames) == self.frames.maxlen and not self.done:
                self._cond.wait(0.5)
            if len(self.frames) == self.frames.maxlen:
                self.dropped += 1  # deque(maxlen) discards the oldest
            self.frames.append(frame)
            self.most = max(self.most, len(self.frames))
            self._cond.notify()

    def close(self, error: BaseException | None = None) -> None:
        with self._cond:
            self.done, self.error = True, error
            self._cond.notify_all()

    def __iter__(self) -> Iterator[Frame]:
        while True:
            with self._cond:
                while not self.frames and not self.done:
                    self._cond.wait(0.5)
                if self.frames:
                    frame = self.frames.popleft()
                    self._cond.notify()
                elif self.error is not None:
                    raise self.error
                else:
                    return
            yield frame


def iter_stream(
    source: str | int,
    *,
    vid_stride: int = 1,
    buffer: int = 4,
    drop: bool = True,
    opener: Callable[[str | int], Any] = open_capture,
    stats: dict[str, int] | None = None,
) -> Iterator[Frame]:
    """Frames of a live source, read on a thread into a :class:`FrameQueue` of ``buffer``
    frames: a slow consumer sees the newest frames, the others are dropped (with
    ``drop=False`` the reader waits for the consumer instead). Every
    ``vid_stride``-th frame is decoded (the others only grabbed). Frame indices count every
    frame the source sent, so gaps show what was skipped or dropped. ``stats`` receives
    ``dropped`` and ``most_buffered`` when the stream ends."""
    cap = opener(source)
    fps = frame_rate(cap.get(cv2.CAP_PROP_FPS))
    queue = FrameQueue(buffer, drop)
    stop = threading.Event()
    name = str(source)

    def read() -> None:
        index = 0
        try:
            while not stop.is_set():
                ok, bgr = cap.read()
                if not ok:
                    if not stop.is_set():
                        log.warning("%s: the stream ended or stopped sending frames", name)
                    return
                queue.put(Frame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), name, index, fps))
                index += 1
                for _ in range(vid_stride - 1):
                    if not cap.grab():
                        return
                    index += 1
        except BaseException as e:  # handed to the consumer
            queue.close(DataError(f"{name}: reading the stream failed ({e})"))
        finally:
            queue.close(queue.error)
            cap.release()  # here, never while this thread may still be inside cap.read()

    thread = threading.Thread(target=read, name="yolov9-stream", daemon=True)
    thread.start()
    try:
        yield from queue
    finally:
        stop.set()
        queue.close()  # wakes a reader waiting for room
        thread.join(timeout=5)  # a stalled read ends at the capture's read timeout
        if queue.dropped:
            log.info("%s: %d frame(s) dropped while the model was busy", name, queue.dropped)
        if stats is not None:
            stats.update(dropped=queue.dropped, most_buffered=queue.most)


def iter_frames(
    files: list[Path], *, skipped: list[str] | None = None, vid_stride: int = 1
) -> Iterator[Frame]:
    """Frames of every file in order. With a ``skipped`` list, unreadable files among several
    are logged, recorded there and skipped; otherwise (or for a single file) they raise
    :class:`DataError`."""
    if len(files) == 1:
        skipped = None
    for path in files:
        try:
            if is_video(path):
                yield from iter_video(path, vid_stride)
            else:
                yield Frame(read_image(path), str(path))
        except DataError as e:
            if skipped is None:
                raise
            log.warning("skipped %s", e)
            skipped.append(str(path))
