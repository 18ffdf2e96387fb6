"""Live sources: the bounded frame queue (a slow model drops the oldest frames, memory stays
bounded), waiting instead of dropping, frame strides, a video served over HTTP, and the
one-line error for an unreachable URL."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolov9.data.sources import is_stream, iter_stream, iter_video, open_capture
from yolov9.errors import DataError


class FakeCamera:
    """A capture that delivers ``n`` frames of 240x320 as fast as asked."""

    def __init__(self, n: int) -> None:
        self.n, self.i = n, 0
        self.image = np.zeros((240, 320, 3), np.uint8)

    def grab(self) -> bool:
        self.i += 1
        return self.i <= self.n

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.grab():
            return False, None
        self.image[0, 0, 0] = self.i % 256
        return True, self.image.copy()

    def get(self, prop: int) -> float:
        return 25.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        pass


def test_a_slow_consumer_drops_frames_and_memory_stays_bounded() -> None:
    stats: dict[str, int] = {}
    frames = iter_stream(0, buffer=3, opener=lambda s: FakeCamera(3000), stats=stats)
    tracemalloc.start()
    seen, peak_after_warmup = [], 0
    for k, frame in enumerate(frames):
        seen.append(frame.frame)
        time.sleep(0.002)  # the "model"
        if k == 20:
            tracemalloc.reset_peak()
        if k > 20:
            peak_after_warmup = max(peak_after_warmup, tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()
    assert stats["dropped"] > 0
    assert stats["most_buffered"] <= 3
    assert len(seen) + stats["dropped"] == 3000
    assert seen == sorted(seen)  # newest frames, in order, with gaps
    assert seen[-1] == 2999
    # at most the buffer's frames (230 kB each) and one in hand, never the thousands dropped
    assert peak_after_warmup < 8 * 240 * 320 * 3


def test_without_dropping_the_reader_waits() -> None:
    stats: dict[str, int] = {}
    frames = iter_stream(
        0, buffer=2, drop=False, opener=lambda s: FakeCamera(200), stats=stats, vid_stride=2
    )
    seen = []
    for frame in frames:
        seen.append(frame.frame)
        time.sleep(0.001)
    assert seen == list(range(0, 200, 2))
    assert stats == {"dropped": 0, "most_buffered": 2}


def test_stopping_early_releases_the_reader() -> None:
    camera = FakeCamera(10**9)
    frames = iter_stream(0, opener=lambda s: camera)
    for k, _ in enumerate(frames):
        if k == 5:
            break
    frames.close()
    before = camera.i
    time.sleep(0.1)
    assert camera.i - before <= 1


def test_stream_sources_are_recognised() -> None:
    assert is_stream(0)
    assert is_stream("1")
    assert is_stream("rtsp://cam.local/live")
    assert is_stream("HTTP://example.com/feed.mjpg")
    assert not is_stream("video.mp4")
    assert not is_stream("folder/")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_url_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/live.mjpg"
    with pytest.raises(DataError) as e:
        open_capture(url, timeout_s=5)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith(f"{url}: cannot open the stream")


def _video(path: Path, n: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 20.0, (64, 48))
    for k in range(n):
        writer.write(np.full((48, 64, 3), 4 * k, np.uint8))
    writer.release()
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_video_over_http(tmp_path: Path, http_server: str) -> None:
    _video(tmp_path / "clip.avi", 12)
    frames = list(iter_stream(f"{http_server}/clip.avi", drop=False))
    assert [f.frame for f in frames] == list(range(12))
    assert frames[0].image.shape == (48, 64, 3)
    assert frames[0].fps == pytest.approx(20.0)


def test_vid_stride_on_files(tmp_path: Path) -> None:
    path = _video(tmp_path / "clip.avi", 10)
    assert [f.frame for f in iter_video(path, vid_stride=3)] == [0, 3, 6, 9]


def test_implausible_frame_rates_fall_back_to_30() -> None:
    from yolov9.data.sources import frame_rate

    assert frame_rate(25.0) == 25.0
    for reported in (0.0, 90000.0, float("inf"), float("nan"), -1.0):
        assert frame_rate(reported) == 30.0
