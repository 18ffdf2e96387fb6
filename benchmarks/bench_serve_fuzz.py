"""Malformed requests against ``yolov9 serve``: every answer a 4xx with a one-line reason, the
service healthy afterwards, answering a good request as before, its memory back to its level.

    python benchmarks/bench_serve_fuzz.py                  # 3 x 1,200 requests, gelan-t
    python benchmarks/bench_serve_fuzz.py --requests 200 --rounds 1   # a shorter run

The service (``yolov9 serve``, a random gelan-t, 640 px, ``--body-timeout 2``) runs as its own
process. After 20 good requests (the memory's level: VmRSS), ``--requests`` malformed ones
are sent ``--rounds`` times (3: the RSS after each round shows whether memory only plateaus
or grows), drawn in turn from these kinds (seeded): an empty body; a JPEG or PNG cut at a
random byte; an image with random bytes overwritten (may still decode: then a 200 is right);
random bytes; a wrong content type (text, form-urlencoded); multipart without the ``image``
field, and broken multipart; a PNG header claiming up to 60,000 x 60,000 pixels; a body over
the upload limit; bad query values (out of range, not numbers, unknown fields, unknown
classes); and slow senders (a body that stops arriving: 408 after the body timeout, sent on
raw sockets, several at once). Reported: answers by status and kind, anything that was not a
4xx (a 200 counts only for overwritten images), whether every 4xx carried a one-line reason,
health and a good request's answer afterwards (the same records as before), and the RSS
before, at peak and after. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import struct
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from bench_serve import Server, checkpoint, image_jpeg


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 256))
        + chunk(b"IEND", b"")
    )


def malformed(rng: np.random.Generator, jpeg: bytes, png: bytes) -> tuple[str, dict[str, Any]]:
    """One malformed request: (kind, httpx.post keywords incl. the query)."""
    kind = str(
        rng.choice(
            [
                "empty",
                "truncated",
                "overwritten",
                "random",
                "content-type",
                "multipart",
                "bomb",
                "oversize",
                "query",
            ]
        )
    )
    if kind == "empty":
        return kind, {"content": b""}
    if kind == "truncated":
        body = jpeg if rng.random() < 0.5 else png
        return kind, {"content": body[: int(rng.integers(1, len(body) - 1))]}
    if kind == "overwritten":
        body = bytearray(jpeg if rng.random() < 0.5 else png)
        at = rng.integers(0, len(body), size=int(rng.integers(1, 64)))
        for i in at:
            body[int(i)] = int(rng.integers(0, 256))
        return kind, {"content": bytes(body)}
    if kind == "random":
        return kind, {"content": rng.bytes(int(rng.integers(1, 50_000)))}
    if kind == "content-type":
        ctype = str(rng.choice(["text/plain", "application/x-www-form-urlencoded", "text/html"]))
        return kind, {"content": b"image=abc", "headers": {"content-type": ctype}}
    if kind == "multipart":
        if rng.random() < 0.5:
            return kind, {"files": {"photo": ("a.jpg", jpeg)}}
        broken = b'--b\r\nContent-Disposition: form-data; name="image"\r\n\r\n' + jpeg[:100]
        ctype = "multipart/form-data; boundary=b" if rng.random() < 0.5 else "multipart/form-data"
        return kind, {"content": broken, "headers": {"content-type": ctype}}
    if kind == "bomb":
        side = int(rng.integers(7000, 60_000))
        return kind, {"content": png_header(side, side)}
    if kind == "oversize":
        return kind, {"content": b"\xff\xd8" + bytes(21 << 20)}
    # valid: no filter, class 2, the drawn JPEG, 2 boxes
    valid = {("classes", ""), ("classes", "2"), ("draw", "true"), ("max_det", "2")}
    while True:
        field = str(
            rng.choice(["conf", "iou", "max_det", "classes", "draw", "tile", "masks", "zz"])
        )
        value = str(rng.choice(["-1", "2", "abc", "", "1e9", "0,999", "nan", "%00", "true"]))
        if (field, value) not in valid:
            return kind, {"content": jpeg, "params": {field: value}}


def slow_sender(port: int, timeout: float) -> int:
    """A request whose body stops arriving: the status of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout + 30) as s:
        head = (
            "POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n"
        )
        s.sendall(head.encode() + b"\xff\xd8" + bytes(1000))
        answer = s.recv(4096).decode(errors="replace")
    return int(answer.split()[1]) if answer.startswith("HTTP/") else -1


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --requests each")
    parser.add_argument("--slow", type=int, default=12, help="slow senders, 4 at a time")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    rng = np.random.default_rng(args.seed)
    jpeg = image_jpeg()
    import cv2

    png = cv2.imencode(".png", cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))[
        1
    ].tobytes()
    with tempfile.TemporaryDirectory() as tmp:
        weights = checkpoint("gelan-t", Path(tmp))
        server = Server(weights, ["--body-timeout", "2"])
        url, pid = server.url, server.process.pid
        try:
            good = [httpx.post(f"{url}/v1/predict", content=jpeg).json() for _ in range(20)]
            before = rss_mb(pid)
            statuses: Counter[tuple[str, int]] = Counter()
            wrong: list[str] = []
            reasons_ok = True
            start = time.perf_counter()
            levels = []  # RSS after each round: flat when nothing leaks
            with httpx.Client(timeout=60) as http:
                for i in range(args.requests * args.rounds):
                    if i and i % args.requests == 0:
                        levels.append(round(rss_mb(pid)))
                    kind, kw = malformed(rng, jpeg, png)
                    try:
                        r = http.post(f"{url}/v1/predict", **kw)
                    except httpx.HTTPError as e:
                        wrong.append(f"{kind}: {type(e).__name__}")
                        continue
                    statuses[(kind, r.status_code)] += 1
                    if 400 <= r.status_code < 500:
                        error = r.json().get("error", "")
                        reasons_ok &= bool(error) and "\n" not in error
                    elif not (kind == "overwritten" and r.status_code == 200):
                        query = kw.get("params", "")
                        wrong.append(f"{kind} {query}: {r.status_code} {r.text[:200]}")
            levels.append(round(rss_mb(pid)))
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(4) as pool:
                slow = list(pool.map(lambda _: slow_sender(server.port, 2), range(args.slow)))
            for code in slow:
                statuses[("slow sender", code)] += 1
                if code != 408:
                    wrong.append(f"slow sender: {code}")
            elapsed = time.perf_counter() - start
            healthy = httpx.get(f"{url}/healthz").status_code == 200
            after_good = httpx.post(f"{url}/v1/predict", content=jpeg).json()
            same = after_good["records"] == good[0]["records"]
            time.sleep(2)
            after = rss_mb(pid)
            peak = rss_mb(pid, "VmHWM")
        finally:
            server.stop()
    total = sum(statuses.values())
    print(f"{total} malformed requests in {elapsed:.0f} s")
    for (kind, code), n in sorted(statuses.items()):
        print(f"  {kind:14s} {code}: {n}")
    print(
        f"not a 4xx (a 200 is fine for an overwritten image that still decodes): {wrong or 'none'}"
    )
    print(f"every 4xx with a one-line reason: {reasons_ok}")
    print(f"healthy afterwards: {healthy}; a good request answered as before: {same}")
    print(f"RSS: {before:.0f} MB before, {peak:.0f} MB peak, {after:.0f} MB after")
    print(f"RSS after each round of {args.requests}: {levels} MB")
    print(
        json.dumps(
            {
                "requests": total,
                "wrong": len(wrong),
                "reasons": reasons_ok,
                "healthy": healthy,
                "same": same,
                "rss_before": round(before),
                "rss_peak": round(peak),
                "rss_after": round(after),
                "rss_rounds": levels,
            }
        )
    )


if __name__ == "__main__":
    main()
