"""``yolov9 serve`` as a user runs it: a process that prints its address, answers there (the
key from ``YOLOV9_API_KEY``), and stops cleanly on Ctrl-C; bad flags are one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.serving.conftest import httpx, scene_png
from yolov9.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_prints_its_address_answers_and_stops(pan_ckpt: Path) -> None:
    port = _free_port()
    env = {**os.environ, "YOLOV9_API_KEY": "k3y"}
    argv = [sys.executable, "-m", "yolov9", "serve", "--weights", str(pan_ckpt)]
    argv += ["--port", str(port), "--device", "cpu", "--threads", "1"]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = process.stdout.readline().decode() if process.stdout else ""
        assert f"at http://127.0.0.1:{port}/" in line, line
        assert "API key required" in line
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not answer"
            time.sleep(0.1)
        headers = {"X-API-Key": "k3y"}
        assert httpx.post(f"{url}/v1/predict", content=scene_png()).status_code == 401
        answer = httpx.post(f"{url}/v1/predict", content=scene_png(), headers=headers)
        assert answer.status_code == 200
        assert answer.json()["records"]
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0


def test_bad_flags_are_one_line(capsys) -> None:
    assert main(["serve", "--weights", "x.pt", "--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "error: --port must be in 0..65535, got 70000"
