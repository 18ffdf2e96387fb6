"""Load on ``yolov9 serve``: concurrent clients on 127.0.0.1 against a model, with and without
dynamic batching, side by side in one run.

    python benchmarks/bench_serve.py                               # the full run (~20 min)
    python benchmarks/bench_serve.py --models gelan-t --backends pytorch --clients 1 4 \\
        --seconds 5                                                # a smoke run

For each model (random weights, 80 classes, 640 px) and backend (``pytorch``: the
checkpoint; ``openvino``: its OpenVINO export, which needs the export extra), the service runs
as its own process (``yolov9 serve --threads 2``) twice: batching off (``--max-batch 1``) and
on (``--max-batch 8 --max-wait-ms 5``), everything else at its defaults (queue 64). Against
each, ``--clients`` concurrent clients (1, 4, 16, 64) each send one 640 x 480 JPEG after
another for ``--seconds`` (30); requests still running at the end are waited for and count.
Reported per run: completed requests per second, p50 and p99 latency of the answered ones,
503s (the queue full: the service refusing rather than queueing without bound), any other
error, and the server's peak RSS (VmHWM). The clients are one asyncio process with httpx on
the same 2 cores, which takes a share of the CPU from the server: the figures are those of a
server and its clients on one 2-core machine. Run it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np


def checkpoint(name: str, folder: Path) -> Path:
    import torch

    from yolov9.checkpoints import save_checkpoint
    from yolov9.models import build_model

    torch.manual_seed(0)
    model = build_model(name, 80)
    return save_checkpoint(folder / f"{name}.pt", model, [f"c{i}" for i in range(80)])


def weights_for(model: str, backend: str, folder: Path) -> Path:
    ckpt = checkpoint(model, folder)
    if backend == "pytorch":
        return ckpt
    from yolov9.deploy.export import ExportOptions, export

    return export(ckpt, folder / f"{model}-{backend}", ExportOptions(backend, imgsz=640)).path


def image_jpeg() -> bytes:
    from yolov9.data.synthetic import make_scene

    rng = np.random.default_rng(0)
    image = make_scene(rng, (480, 640))[0]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """``yolov9 serve`` in its own process."""

    def __init__(self, weights: Path, extra: list[str]) -> None:
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "yolov9", "serve", "--weights", str(weights)]
        argv += ["--port", str(self.port), "--threads", "2", "--device", "cpu", *extra]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the service did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)


async def load(url: str, body: bytes, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` loops of requests for ``seconds``: their latencies and status counts."""
    import httpx

    latencies: list[float] = []
    status: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                r = await http.post(f"{url}/v1/predict", content=body)
                code = str(r.status_code)
            except httpx.HTTPError as e:
                code = type(e).__name__
            status[code] = status.get(code, 0) + 1
            if code == "200":
                latencies.append(time.perf_counter() - start)
            elif code == "503":
                await asyncio.sleep(0.05)  # as a client honouring Retry-After would, briefly

    start = time.perf_counter()
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    elapsed = time.perf_counter() - start
    ms = sorted(x * 1000 for x in latencies)
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "answered": len(ms),
        "rps": round(len(ms) / elapsed, 2),
        "p50_ms": round(statistics.median(ms), 1) if ms else None,
        "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 1) if ms else None,
        "503": status.get("503", 0),
        "errors": {k: v for k, v in status.items() if k not in ("200", "503")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gelan-t", "gelan-c"])
    parser.add_argument("--backends", nargs="+", default=["pytorch", "openvino"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 4, 16, 64])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args()
    print(f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    body = image_jpeg()
    arms = {"off": ["--max-batch", "1"], "on": ["--max-batch", "8", "--max-wait-ms", "5"]}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for backend in args.backends:
                weights = weights_for(model, backend, Path(tmp))
                for arm, extra in arms.items():
                    server = Server(weights, extra)
                    try:
                        for clients in args.clients:
                            row = asyncio.run(load(server.url, body, clients, args.seconds))
                            row |= {"model": model, "backend": backend, "batching": arm}
                            row["peak_rss_mb"] = round(peak_rss_mb(server.process.pid))
                            rows.append(row)
                            print(json.dumps(row), flush=True)
                    finally:
                        server.stop()
    print()
    head = "| model | backend | batching | clients | req/s | p50 ms | p99 ms | 503 | errors |"
    print(head + " peak RSS MB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---|---:|")
    for r in rows:
        errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "none"
        print(
            f"| {r['model']} | {r['backend']} | {r['batching']} | {r['clients']} | {r['rps']} "
            f"| {r['p50_ms']} | {r['p99_ms']} | {r['503']} | {errors} | {r['peak_rss_mb']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
