"""A panoptic checkpoint whose output has things, masks and stuff, its detector, and services
started on 127.0.0.1 (an ephemeral port) inside the tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import PAN_NAMES, PAN_STUFF, panoptic_scene

pytest.importorskip("starlette", reason="the serve extra is not installed")
pytest.importorskip("uvicorn", reason="the serve extra is not installed")
httpx = pytest.importorskip("httpx", reason="the dev extra is not installed")

from yolov9.api import Detector  # noqa: E402
from yolov9.serving import ServeOptions, build_app  # noqa: E402
from yolov9.serving.server import server  # noqa: E402

NAMES, STUFF = PAN_NAMES, PAN_STUFF


@pytest.fixture(scope="session")
def detector(pan_ckpt: Path) -> Detector:
    return Detector.from_pretrained(pan_ckpt, imgsz=128, device="cpu", threads=1)


def scene_png(shape: tuple[int, int] = (96, 128), seed: int = 0) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(panoptic_scene(shape, seed), cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def scene(shape: tuple[int, int] = (96, 128), seed: int = 0) -> np.ndarray:
    return panoptic_scene(shape, seed)


@contextlib.contextmanager
def running(detector: Detector, options: ServeOptions) -> Iterator[str]:
    """A service of ``detector`` on 127.0.0.1 (a free port) in a thread: its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = server(build_app(detector, options), options)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the service did not start")
        time.sleep(0.02)
    try:
        yield url
    finally:
        srv.should_exit = True
        thread.join(timeout=20)
        sock.close()
