"""Multi-object tracking: ByteTrack and BoT-SORT on a generated video with ground-truth ids.

    python benchmarks/bench_track.py --weights W [--ultralytics-python /tmp/ulvenv/bin/python]
        [--roboflow-python /tmp/trackbench/bin/python] --trackeval-python PY

The video (960x540, 30 fps, 600 frames, a still COCO photo as the background): shapes of the
four classes (20-44 px) enter at the borders and leave, at constant or changing speeds, cross
each other (the nearer one hides the farther) and pass behind two still posts. Ground truth
per frame: id, box and visibility (the fraction of the shape's pixels that show). Objects under
50 % visible are left out of the ground truth, and tracker boxes on them (IoU >= 0.5) are
dropped before scoring, as MOTChallenge's evaluation does with occluded objects.

Steps, each timed alone:
  1. ``yolov9 track`` end to end (decode, detect, track, no drawing) for both trackers: fps;
  2. the detections of every frame (conf 0.1) cached once; then on exactly these detections our
     two trackers and the library implementations run in their own environments (never our
     dependencies): ultralytics' BYTETracker and BOTSORT, and Roboflow's ``trackers``
     (Apache-2.0, but it needs opencv-python and supervision) ByteTrackTracker and
     BoTSORTTracker, each set to the published defaults;
  3. HOTA, MOTA, IDF1 (TrackEval's own metric classes) of every run against the ground truth.
Needs ../shared/data for the background photo and TrackEval in ``--trackeval-python``.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZE = (540, 960)  # h, w
FPS = 30.0
POSTS = [(300, 336), (640, 670)]  # x ranges of the still posts in front of everything
MIN_VISIBLE = 0.5


def _shape_polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    from yolov9.data.synthetic import _polygon

    if shape == "circle":
        t = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).astype(np.float32)
    return _polygon(shape, cx, cy, r, angle)


def generate(out: Path, frames: int, seed: int) -> tuple[Path, Path]:
    """Write the video and its ground truth (JSON: per frame, [id, x1, y1, x2, y2, vis])."""
    from yolov9.data.images import read_image
    from yolov9.data.synthetic import SHAPES

    rng = np.random.default_rng(seed)
    h, w = SIZE
    photos = sorted((SHARED / "coco128_train2017" / "images").glob("*.jpg"))
    if not photos:
        sys.exit(f"no photos under {SHARED}: this benchmark needs ../shared/data")
    background = cv2.resize(read_image(photos[20]), (w, h), interpolation=cv2.INTER_AREA)
    post_colour = np.array([70, 60, 50], np.uint8)

    objects: list[dict] = []
    next_id = 1

    def spawn(inside: bool) -> dict:
        nonlocal next_id
        r = float(rng.uniform(10, 22))
        if inside:
            x, y = float(rng.uniform(60, w - 60)), float(rng.uniform(60, h - 60))
            heading = float(rng.uniform(0, 2 * math.pi))
        else:  # at a border, heading inwards
            side = int(rng.integers(4))  # left, right, top, bottom
            along_y, along_x = float(rng.uniform(40, h - 40)), float(rng.uniform(40, w - 40))
            x, y = [(-r, along_y), (w + r, along_y), (along_x, -r), (along_x, h + r)][side]
            heading = math.atan2(h / 2 - y, w / 2 - x) + float(rng.uniform(-0.6, 0.6))
        obj = {
            "id": next_id,
            "label": int(rng.integers(len(SHAPES))),
            "r": r,
            "x": x,
            "y": y,
            "heading": heading,
            "speed": float(rng.uniform(1.0, 5.0)),
            "mode": str(rng.choice(["constant", "accelerate", "wave", "turn"])),
            "phase": float(rng.uniform(0, 2 * math.pi)),
            "angle": float(rng.uniform(0, 2 * math.pi)),
            "z": float(rng.uniform()),
            "colour": tuple(int(v) for v in rng.integers(0, 256, 3)),
            "age": 0,
        }
        next_id += 1
        return obj

    objects = [spawn(inside=True) for _ in range(8)]
    video = out / "track.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (w, h))
    truth: list[list[list[float]]] = []
    for _f in range(frames):
        if rng.uniform() < 1 / 20:
            objects.append(spawn(inside=False))
        image = background.copy()
        drawn: list[tuple[dict, np.ndarray, np.ndarray, int]] = []  # obj, poly, visible, pixels
        for obj in sorted(objects, key=lambda o: o["z"]):  # far to near
            poly = _shape_polygon(SHAPES[obj["label"]], obj["x"], obj["y"], obj["r"], obj["angle"])
            mask = np.zeros((h, w), np.uint8)
            cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
            cv2.fillPoly(image, [np.round(poly).astype(np.int32)], obj["colour"], cv2.LINE_AA)
            for _, _, earlier, _ in drawn:  # this nearer shape hides what it covers
                earlier &= ~mask.astype(bool)
            drawn.append((obj, poly, mask.astype(bool), int(mask.sum())))
        for x1, x2 in POSTS:
            image[:, x1:x2] = post_colour
            for _, _, m, _ in drawn:
                m[:, x1:x2] = False
        rows = []
        for obj, poly, visible, total in drawn:
            if total == 0:
                continue
            lo, hi = poly.min(0), poly.max(0)
            box = [max(0.0, lo[0]), max(0.0, lo[1]), min(w, hi[0]), min(h, hi[1])]
            rows.append([obj["id"], *[round(float(v), 2) for v in box], int(visible.sum()) / total])
        truth.append(rows)
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        for obj in objects:  # move
            obj["age"] += 1
            speed = obj["speed"]
            if obj["mode"] == "accelerate":
                speed *= 0.4 + 1.2 * min(1.0, obj["age"] / 150)
            elif obj["mode"] == "wave":
                speed *= 1 + 0.6 * math.sin(obj["age"] / 15 + obj["phase"])
            elif obj["mode"] == "turn":
                obj["heading"] += 0.01
            obj["x"] += speed * math.cos(obj["heading"])
            obj["y"] += speed * math.sin(obj["heading"])
            obj["angle"] += 0.01
        objects = [
            o
            for o in objects
            if -3 * o["r"] < o["x"] < w + 3 * o["r"] and -3 * o["r"] < o["y"] < h + 3 * o["r"]
        ]
    writer.release()
    gt = out / "truth.json"
    gt.write_text(json.dumps(truth))
    return video, gt


def cache_detections(weights: str, video: Path, out: Path, imgsz: int) -> Path:
    from yolov9.api import Detector

    detector = Detector.from_pretrained(weights, imgsz=imgsz, device="cpu")
    frames = []
    for r in detector.stream(video, conf=0.1):
        frames.append(
            {"boxes": r.boxes.tolist(), "scores": r.scores.tolist(), "labels": r.labels.tolist()}
        )
    path = out / "detections.json"
    path.write_text(json.dumps(frames))
    return path


def run_ours(detections: Path, video: Path, name: str) -> tuple[list, float]:
    """Our tracker on the cached detections; (per-frame [[id, x1, y1, x2, y2]], ms/frame)."""
    from yolov9.track import make_tracker

    frames = json.loads(detections.read_text())
    tracker = make_tracker(name, frame_rate=FPS)
    cap = cv2.VideoCapture(str(video))
    out, spent = [], 0.0
    for det in frames:
        _, bgr = cap.read()
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        boxes = np.array(det["boxes"], np.float64).reshape(-1, 4)
        start = time.perf_counter()
        idx, ids = tracker.update(boxes, np.array(det["scores"]), np.array(det["labels"]), rgb)
        spent += time.perf_counter() - start
        out.append([[int(t), *boxes[i].tolist()] for i, t in zip(idx, ids, strict=True)])
    return out, 1000 * spent / len(frames)


ULTRALYTICS_JOB = textwrap.dedent("""
    import json, sys, time
    from types import SimpleNamespace
    import cv2, numpy as np
    from ultralytics.trackers.byte_tracker import BYTETracker
    from ultralytics.trackers.bot_sort import BOTSORT
    detections, video, name, out = sys.argv[1:5]
    frames = json.load(open(detections))
    common = dict(track_low_thresh=0.1, track_buffer=30, match_thresh=0.8, fuse_score=True)
    if name == "bytetrack":  # ByteTrack's published defaults
        args = SimpleNamespace(track_high_thresh=0.5, new_track_thresh=0.6, **common)
        tracker = BYTETracker(args)
    else:  # BoT-SORT's, motion only
        args = SimpleNamespace(track_high_thresh=0.6, new_track_thresh=0.7,
                               gmc_method="sparseOptFlow", proximity_thresh=0.5,
                               appearance_thresh=0.25, with_reid=False, model="auto", **common)
        tracker = BOTSORT(args)
    class Dets:
        def __init__(self, b, s, c):
            self.xyxy, self.conf, self.cls = b, s, c
            self.xywh = np.c_[(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]]
        def __len__(self): return len(self.conf)
        def __getitem__(self, k): return Dets(self.xyxy[k], self.conf[k], self.cls[k])
    cap = cv2.VideoCapture(video)
    result, spent = [], 0.0
    for det in frames:
        ok, bgr = cap.read()
        b = np.array(det["boxes"], np.float32).reshape(-1, 4)
        d = Dets(b, np.array(det["scores"], np.float32), np.array(det["labels"], np.float32))
        t0 = time.perf_counter()
        tracks = tracker.update(d, bgr)
        spent += time.perf_counter() - t0
        rows = []
        for t in tracks:
            i = int(t[-1])
            rows.append([int(t[4]), *b[i].tolist()])
        result.append(rows)
    json.dump({"tracks": result, "ms": 1000 * spent / len(frames)}, open(out, "w"))
""")

ROBOFLOW_JOB = textwrap.dedent("""
    import json, sys, time
    import cv2, numpy as np
    import supervision as sv
    from trackers import BoTSORTTracker, ByteTrackTracker
    detections, video, name, out = sys.argv[1:5]
    frames = json.load(open(detections))
    if name == "bytetrack":  # ByteTrack's published defaults in this library's terms
        tracker = ByteTrackTracker(lost_track_buffer=30, frame_rate=30,
                                   high_conf_det_threshold=0.5, track_activation_threshold=0.6,
                                   minimum_iou_threshold=0.2, minimum_consecutive_frames=2)
    else:  # BoT-SORT's
        tracker = BoTSORTTracker(lost_track_buffer=30, frame_rate=30,
                                 high_conf_det_threshold=0.6, track_activation_threshold=0.7,
                                 minimum_iou_threshold_first_assoc=0.2,
                                 minimum_iou_threshold_second_assoc=0.5,
                                 minimum_iou_threshold_unconfirmed_assoc=0.3,
                                 cmc_method="sparseOptFlow")
    cap = cv2.VideoCapture(video)
    result, spent = [], 0.0
    for det in frames:
        ok, bgr = cap.read()
        b = np.array(det["boxes"], np.float32).reshape(-1, 4)
        d = sv.Detections(xyxy=b, confidence=np.array(det["scores"], np.float32),
                          class_id=np.array(det["labels"], int))
        d.data["index"] = np.arange(len(b))
        t0 = time.perf_counter()
        t = tracker.update(d, bgr) if name == "botsort" else tracker.update(d)
        spent += time.perf_counter() - t0
        result.append([[int(i), *b[int(k)].tolist()]
                       for i, k in zip(t.tracker_id, t.data["index"]) if int(i) >= 0])
    json.dump({"tracks": result, "ms": 1000 * spent / len(frames)}, open(out, "w"))
""")


SCORE_JOB = textwrap.dedent("""
    import json, sys
    import numpy as np
    from trackeval.metrics import CLEAR, HOTA, Identity
    truth, runs = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
    min_visible = float(sys.argv[3])
    def iou(a, b):
        a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
        lt = np.maximum(a[:, None, :2], b[None, :, :2])
        rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
        inter = np.clip(rb - lt, 0, None).prod(-1)
        area = lambda x: np.clip(x[:, 2:] - x[:, :2], 0, None).prod(-1)
        return inter / np.maximum(area(a)[:, None] + area(b)[None] - inter, 1e-9)
    out = {}
    for name, frames in runs.items():
        gt_ids, tr_ids, sims, gmap, tmap = [], [], [], {}, {}
        n_gt = n_tr = 0
        for rows, tracks in zip(truth, frames):
            keep = [r for r in rows if r[5] >= min_visible]
            hidden = [r for r in rows if r[5] < min_visible]
            if hidden and tracks:  # boxes on mostly hidden objects are neither right nor wrong
                over = iou([t[1:] for t in tracks], [r[1:5] for r in hidden]).max(1) >= 0.5
                tracks = [t for t, o in zip(tracks, over) if not o]
            g = np.array([gmap.setdefault(r[0], len(gmap)) for r in keep], int)
            t = np.array([tmap.setdefault(x[0], len(tmap)) for x in tracks], int)
            gt_ids.append(g); tr_ids.append(t)
            sims.append(iou([r[1:5] for r in keep], [x[1:] for x in tracks]) if len(g) and len(t)
                        else np.zeros((len(g), len(t))))
            n_gt += len(g); n_tr += len(t)
        data = dict(gt_ids=gt_ids, tracker_ids=tr_ids, similarity_scores=sims, num_gt_dets=n_gt,
                    num_tracker_dets=n_tr, num_gt_ids=len(gmap), num_tracker_ids=len(tmap),
                    num_timesteps=len(truth), seq="track")
        h, c = HOTA().eval_sequence(data), CLEAR().eval_sequence(data)
        i = Identity().eval_sequence(data)
        out[name] = {"HOTA": float(np.mean(h["HOTA"])), "DetA": float(np.mean(h["DetA"])),
                     "AssA": float(np.mean(h["AssA"])), "MOTA": float(c["MOTA"]),
                     "IDF1": float(i["IDF1"]), "IDSW": int(c["IDSW"]), "ids": len(tmap),
                     "gt_ids": len(gmap)}
    json.dump(out, open(sys.argv[4], "w"))  # TrackEval prints to stdout
""")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--weights", required=True, help="a detector trained on similar frames")
    ap.add_argument("--out", default="runs/bench/track")
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--imgsz", type=int, default=960)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--ultralytics-python", help="python of an environment with ultralytics")
    ap.add_argument("--roboflow-python", help="python of an environment with trackers")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end timing")
    ap.add_argument("--trackeval-python", required=True, help="python with TrackEval")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    video, gt = out / "track.avi", out / "truth.json"
    if not gt.is_file():
        video, gt = generate(out, args.frames, args.seed)
    truth = json.loads(gt.read_text())
    print(f"video {video}: {len(truth)} frames, {len({r[0] for f in truth for r in f})} objects")

    # 1. end to end through the CLI's path: decode, detect, track (no drawing, no files)
    from yolov9.api import Detector

    detector = Detector.from_pretrained(args.weights, imgsz=args.imgsz, device="cpu")
    e2e: dict[str, float] = {}
    for name in () if args.no_e2e else ("bytetrack", "botsort"):
        start = time.perf_counter()
        n = sum(1 for _ in detector.track_stream(video, tracker=name))
        e2e[name] = n / (time.perf_counter() - start)
        print(f"end to end {name}: {e2e[name]:.2f} fps ({n} frames)")

    # 2. every tracker on the same cached detections
    detections = out / "detections.json"
    if not detections.is_file():
        detections = cache_detections(args.weights, video, out, args.imgsz)
    runs, ms = {}, {}
    for name in ("bytetrack", "botsort"):
        runs[f"ours {name}"], ms[f"ours {name}"] = run_ours(detections, video, name)
    jobs = []
    if args.ultralytics_python:
        jobs += [
            (
                f"ultralytics {n}",
                [args.ultralytics_python, "-c", ULTRALYTICS_JOB, str(detections), str(video), n],
            )
            for n in ("bytetrack", "botsort")
        ]
    if args.roboflow_python:
        jobs += [
            (
                f"roboflow trackers {n}",
                [args.roboflow_python, "-c", ROBOFLOW_JOB, str(detections), str(video), n],
            )
            for n in ("bytetrack", "botsort")
        ]
    for label, cmd in jobs:
        result = out / (label.replace(" ", "_") + ".json")
        subprocess.run([*cmd, str(result)], check=True)
        data = json.loads(result.read_text())
        runs[label], ms[label] = data["tracks"], data["ms"]
    (out / "runs.json").write_text(json.dumps(runs))

    # 3. scores
    scored = out / "trackeval.json"
    command = [args.trackeval_python, "-c", SCORE_JOB, str(gt), str(out / "runs.json")]
    subprocess.run([*command, str(MIN_VISIBLE), str(scored)], check=True, capture_output=True)
    scores = json.loads(scored.read_text())
    print(
        f"\n| tracker | HOTA | DetA | AssA | MOTA | IDF1 | ID switches | ids (truth "
        f"{next(iter(scores.values()))['gt_ids']}) | tracker ms/frame |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, s in scores.items():
        print(
            f"| {label} | {s['HOTA']:.3f} | {s['DetA']:.3f} | {s['AssA']:.3f} | {s['MOTA']:.3f} | "
            f"{s['IDF1']:.3f} | {s['IDSW']} | {s['ids']} | {ms[label]:.2f} |"
        )
    (out / "scores.json").write_text(json.dumps({"scores": scores, "ms": ms, "fps": e2e}, indent=1))
    print(f"\ncommand: python benchmarks/bench_track.py {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
