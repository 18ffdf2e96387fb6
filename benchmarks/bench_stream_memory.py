"""Memory over a long video: ``yolov9 track`` on a generated 10,000-frame video, writing the
annotated video, the JSON records and the MOT file, with the process's resident memory
sampled from outside every half second.

    python benchmarks/bench_stream_memory.py --weights W [--frames 10000] [--http]

With ``--http`` the video is served from 127.0.0.1 and read as a stream (the reader thread
and its bounded queue, ``--no-drop`` so every frame is processed). Prints RSS after 10 %,
50 % and all of the frames, and the peak (VmHWM).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np


def make_video(path: Path, frames: int, size: tuple[int, int] = (240, 320)) -> Path:
    h, w = size
    rng = np.random.default_rng(0)
    texture = rng.integers(60, 160, (h, w, 1), dtype=np.uint8)
    background = cv2.GaussianBlur(np.repeat(texture, 3, axis=2), (5, 5), 1.0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (w, h))
    for f in range(frames):
        frame = background.copy()
        for k in range(4):  # four shapes circling at different speeds
            t = f * (0.01 + 0.004 * k) + k
            cx, cy = int(w / 2 + (w / 3) * np.cos(t)), int(h / 2 + (h / 3) * np.sin(1.3 * t))
            if k % 2:
                cv2.circle(frame, (cx, cy), 14, (40 * k, 200, 255 - 40 * k), -1)
            else:
                cv2.rectangle(frame, (cx - 12, cy - 12), (cx + 12, cy + 12), (255, 60 * k, 40), -1)
        writer.write(frame)
    writer.release()
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def rss_kib(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    values = {line.split(":")[0]: int(line.split()[1]) for line in status if line[:2] == "Vm"}
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--frames", type=int, default=10_000)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--out", default="runs/bench/stream_memory")
    ap.add_argument("--http", action="store_true", help="read the video as an HTTP stream")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    video = out / f"long_{args.frames}.avi"
    if not video.is_file():
        start = time.time()
        make_video(video, args.frames)
        print(f"generated {video} ({args.frames} frames) in {time.time() - start:.0f} s")
    source = str(video)
    server = None
    if args.http:
        handler = functools.partial(_QuietHandler, directory=str(out))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        source = f"http://127.0.0.1:{server.server_address[1]}/{video.name}"
    cmd = [
        sys.executable, "-m", "yolov9", "track", "--weights", args.weights, "--source", source,
        "--imgsz", str(args.imgsz), "--out", str(out / "run"), "--exist-ok", "--save-mot",
        "--save-json", str(out / "tracks.json"),
    ]  # fmt: skip
    if args.http:
        cmd.append("--no-drop")
    start = time.time()
    proc = subprocess.Popen(cmd)
    samples: list[tuple[float, int]] = []
    peak = 0
    while proc.poll() is None:
        try:
            rss, hwm = rss_kib(proc.pid)
        except (FileNotFoundError, ProcessLookupError):
            break
        samples.append((time.time() - start, rss))
        peak = max(peak, hwm)
        time.sleep(0.5)
    if proc.wait() != 0 or not samples:
        sys.exit("yolov9 track failed")
    if server is not None:
        server.shutdown()
    total = samples[-1][0]
    mot = next((out / "run").glob("*.txt"))
    frames_done = len({line.split(",")[0] for line in mot.read_text().splitlines()})

    def at(fraction: float) -> float:
        moment = fraction * total
        return next(r for t, r in samples if t >= moment) / 1024

    print(f"\n{frames_done} frames with tracks in {total:.0f} s ({args.frames / total:.1f} fps)")
    print("| after | 10 % | 50 % | 100 % | peak (VmHWM) |")
    print("|---|---:|---:|---:|---:|")
    print(f"| RSS MiB | {at(0.1):.0f} | {at(0.5):.0f} | {at(0.999):.0f} | {peak / 1024:.0f} |")
    print(f"\ncommand: python benchmarks/bench_stream_memory.py {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
