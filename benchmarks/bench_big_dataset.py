"""A big dataset: how label scanning, the label cache and the training loader grow with N.

    python benchmarks/bench_big_dataset.py                      # N = 1k, 10k, 100k
    python benchmarks/bench_big_dataset.py --quick              # smoke run: N = 200, 1000

Data: N generated 64x64, 96x64 and 64x96 JPEGs (flat colour, 1-4 filled shapes of 3
classes, every 50th image without a label file: a background image) with YOLO txt labels,
plus 100 validation images, in ``--root``/n<N>/ (default under the temp folder; reused when
already complete, about 8 KB of disk per image: one JPEG and one label file).

For each N, each step runs in a fresh Python process (so its peak RSS, ``ru_maxrss``, is
its own) with a fresh label-cache folder (``YOLOV9_CACHE_DIR``):
  * labels, first time: ``load_training_data(data.yaml)``, what ``yolov9 train`` runs:
    list the images, fingerprint every image and label file, read and check every label
    (each image's header is probed for its size), write the cache; split into phases;
  * labels, second time: the same call, now a cache hit (verified: no label is parsed);
  * invalidation: one label file's mtime changes, so the next load must parse again;
  * cache safety: every member of the ``.npz`` is a plain ``.npy`` readable with
    ``allow_pickle=False`` (no object arrays), a truncated copy is ignored (not a crash),
    and the cache key covers all 2N files (images and label files, present or not);
  * loader: the training set and loader exactly as ``yolov9 train`` builds them
    (``engine.build.training_set`` with the default augmentation: mosaic, MixUp,
    copy-paste, affine, HSV, flips; ``engine.build.train_loader``), ``--imgsz`` and
    ``--batch``, with 0, 2 and 8 workers, ``data.cache`` ``--image-cache`` (default
    ``none``: every image decoded when drawn, none held in memory);
    images/s over a pass of ``--loader-images`` images (the whole epoch when N is smaller;
    then no steady rate with 8 workers), whole (from creating the iterator:
    the workers start every epoch) and steady (after the batches prefetched meanwhile), the
    time to the first batch, peak RSS of the main process and of the largest worker
    (``RUSAGE_CHILDREN``), and the peak sum of PSS over the main process and its workers
    (sampled; PSS counts pages shared copy-on-write once).
``data.cache: auto`` keeps all images decoded in RAM when their resized size is under 2 GiB:
the report says what ``auto`` would choose at each N (the benchmark measures ``none`` unless
``--image-cache auto``/``ram`` is given).

Every table gives the value at each N and its growth between consecutive sizes: x10 images
should give x10 time for the scan and the cache, and flat images/s for the loader.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_ROOT = Path(tempfile.gettempdir()) / "yolov9_big_dataset"
NAMES = ["box", "disc", "ring"]
IMAGE_SIZES = ((64, 64), (96, 64), (64, 96))  # (w, h)
VAL_IMAGES = 100
BACKGROUND_EVERY = 50
MB = 1 << 20


# ------------------------------------------------------------------------------ generation
def _scene(rng: np.random.Generator, index: int) -> tuple[np.ndarray, list[str]]:
    """One small BGR image and its YOLO label lines."""
    import cv2

    w, h = IMAGE_SIZES[index % len(IMAGE_SIZES)]
    image = np.empty((h, w, 3), np.uint8)
    image[:] = rng.integers(30, 225, 3, dtype=np.uint8)
    lines: list[str] = []
    for _ in range(int(rng.integers(1, 5))):
        cls = int(rng.integers(len(NAMES)))
        bw, bh = (int(v) for v in rng.integers(10, [w // 2 + 1, h // 2 + 1]))
        x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if cls == 0:
            cv2.rectangle(image, (x1, y1), (x1 + bw - 1, y1 + bh - 1), colour, -1)
        else:
            centre, axes = (x1 + bw // 2, y1 + bh // 2), (bw // 2, bh // 2)
            cv2.ellipse(image, centre, axes, 0, 0, 360, colour, -1 if cls == 1 else 3)
        cx, cy = (x1 + bw / 2) / w, (y1 + bh / 2) / h
        lines.append(f"{cls} {cx:.6f} {cy:.6f} {bw / w:.6f} {bh / h:.6f}")
    return image, lines


def _write_split(base: Path, split: str, count: int, seed: int) -> None:
    import cv2

    rng = np.random.default_rng(seed)
    images, labels = base / "images" / split, base / "labels" / split
    for k in range(count):
        if k % 1000 == 0:  # at most 1000 files per folder, as large datasets often are
            shard = f"{k // 1000:04d}"
            (images / shard).mkdir(parents=True, exist_ok=True)
            (labels / shard).mkdir(parents=True, exist_ok=True)
        image, lines = _scene(rng, k)
        name = f"{k:07d}"
        if not cv2.imwrite(str(images / shard / f"{name}.jpg"), image):
            raise OSError(f"cannot write {images / shard / name}.jpg")
        if k % BACKGROUND_EVERY != BACKGROUND_EVERY - 1:
            (labels / shard / f"{name}.txt").write_text("\n".join(lines) + "\n")


def generate(root: Path, n: int) -> Path:
    """``root/n<N>/data.yaml`` with N training and ``VAL_IMAGES`` validation images; reused
    when a previous run completed it."""
    base = root / f"n{n}"
    data = base / "data.yaml"
    if (base / ".complete").is_file():
        return data
    shutil.rmtree(base, ignore_errors=True)
    start = time.perf_counter()
    _write_split(base, "train", n, seed=n)
    _write_split(base, "val", VAL_IMAGES, seed=-1 % 1000003)
    names = "".join(f"\n  - {name}" for name in NAMES)
    data.write_text(f"path: {base}\ntrain: images/train\nval: images/val\nnames:{names}\n")
    (base / ".complete").write_text("")
    print(f"generated {n} images in {base} ({time.perf_counter() - start:.0f} s)", flush=True)
    return data


def disk_usage(path: Path) -> int:
    """Bytes allocated on disk under ``path``."""
    return sum(f.stat().st_blocks * 512 for f in path.rglob("*") if f.is_file())


# ------------------------------------------------------------------------ child processes
def current_rss() -> int:
    """Resident bytes of this process now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> tuple[int, int]:
    """(this process, its largest finished child): peak resident bytes (``ru_maxrss``)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return own, children


def _timed(owner: Any, name: str, totals: dict[str, float], calls: dict[str, int]) -> None:
    """Wrap ``owner.name`` so that its time and calls add up in ``totals`` and ``calls``."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - start
            calls[name] = calls.get(name, 0) + 1

    setattr(owner, name, wrapper)


def child_labels(data: str) -> dict[str, Any]:
    """Load both splits as training does; time the phases; memory held by the records."""
    import gc

    from yolov9.data import cache
    from yolov9.data import dataset as dataset_module
    from yolov9.engine.training_data import load_training_data

    totals: dict[str, float] = {}
    calls: dict[str, int] = {}
    covered = []  # files in each cache key
    fingerprint = cache.fingerprint

    def counting_fingerprint(files: Sequence[Path], settings: dict[str, Any]) -> str:
        covered.append(len(files))
        return fingerprint(files, settings)

    cache.fingerprint = counting_fingerprint  # type: ignore[assignment]
    for owner, name in (
        (dataset_module, "_yolo_images"),
        (dataset_module, "read_yolo"),
        (dataset_module, "_save_masks"),
        (dataset_module, "_load_masks"),
        (cache, "fingerprint"),
        (cache, "save"),
        (cache, "load"),
    ):
        _timed(owner, name, totals, calls)
    gc.collect()
    rss_before = current_rss()
    start = time.perf_counter()
    training = load_training_data(data)
    wall = time.perf_counter() - start
    gc.collect()
    held = current_rss() - rss_before
    own, _ = peak_rss()
    files = sorted(cache.cache_root().glob("*.npz"))
    return {
        "wall_s": wall,
        "phases_s": totals,
        "calls": calls,
        "parsed": calls.get("read_yolo", 0),
        "images": len(training.train),
        "boxes": training.train.report.boxes,
        "issues": len(training.train.report.issues),
        "peak_rss": own,
        "rss_before": rss_before,
        "held_rss": held,
        "fingerprint_files": sum(covered),
        "cache_bytes": sum(f.stat().st_size for f in files),
        "cache_files": [str(f) for f in files],
    }


def _children(pid: int) -> list[int]:
    """The process ids of ``pid``'s children and their descendants (Linux ``/proc``)."""
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                found += [int(c) for c in f.read().split()]
    except OSError:  # gone meanwhile
        return []
    return found + [d for c in found for d in _children(c)]


def _pss_rss(pid: int) -> tuple[int, int]:
    """(PSS, RSS) bytes of a process (``/proc/<pid>/smaps_rollup``); (0, 0) once it is gone."""
    values = {"Pss:": 0, "Rss:": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, value = line.split()[:2]
                if key in values:
                    values[key] = int(value) * 1024
    except (OSError, ValueError):
        return 0, 0
    return values["Pss:"], values["Rss:"]


class PssSampler(threading.Thread):
    """Peak of the summed PSS (and RSS) of this process and its children, sampled."""

    def __init__(self, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak_pss, self.peak_rss, self.peak_procs = interval, 0, 0, 0
        self._stop_event = threading.Event()

    def sample(self) -> None:
        procs = [os.getpid(), *_children(os.getpid())]
        pss = rss = 0
        for pid in procs:
            p, r = _pss_rss(pid)
            pss, rss = pss + p, rss + r
        self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
        self.peak_procs = max(self.peak_procs, len(procs))

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sample()


def child_loader(
    data: str, workers: int, imgsz: int, batch: int, images: int, cache_mode: str
) -> dict[str, Any]:
    """Training-loader throughput over ``images`` images: the whole pass from creating the
    iterator (workers start: ``persistent_workers=False`` starts them every epoch), and the
    steady rate after the batches prefetched during the start."""
    import torch

    from yolov9.data.augment import AugmentConfig
    from yolov9.data.dataset import load_dataset
    from yolov9.engine.build import train_loader, training_set
    from yolov9.utils.dist import DistInfo

    torch.set_num_threads(1)  # nothing else computes here; as a CPU training's loader shares
    ds = load_dataset(data, "train")  # a cache hit: the labels step wrote it
    # what ``data.cache: auto`` would do (TrainDataset.cache_images' estimate, 2 GiB budget)
    estimate = sum(
        3 * imgsz * imgsz * min(r.width, r.height) / max(r.width, r.height) for r in ds.records
    )
    sampler = PssSampler()
    sampler.start()
    rss_labels = current_rss()
    start = time.perf_counter()
    train_set = training_set(ds, imgsz, AugmentConfig(), seed=0, cache=cache_mode)
    cache_s = time.perf_counter() - start
    loader = train_loader(
        train_set, 0, batch=batch, workers=workers, dist=DistInfo(), seed=0, pin_memory=False
    )
    start = time.perf_counter()
    stamps, sizes, boxes, problems = [], [], 0, 0
    batches = iter(loader)
    for b in batches:
        stamps.append(time.perf_counter())
        sizes.append(len(b.images))
        boxes += len(b.targets)
        problems += len(b.problems)
        if sum(sizes) >= images:
            break
    del batches  # shuts the workers down (and reaps them: RUSAGE_CHILDREN counts them)
    sampler.stop()
    # steady: after the batches the workers prefetched while starting (2 each)
    skip = min(2 * workers, len(stamps) - 2)
    count = sum(sizes)
    own, child = peak_rss()
    return {
        "workers": workers,
        "images_per_s": count / (stamps[-1] - start),
        # meaningful only when the pass is much longer than the prefetched part
        "steady_images_per_s": sum(sizes[skip + 1 :]) / (stamps[-1] - stamps[skip])
        if len(stamps) - skip >= 4 * max(skip, 1)
        else float("nan"),
        "images": count,
        "boxes_per_image": boxes / max(count, 1),
        "problems": problems,
        "first_batch_s": stamps[0] - start,
        "image_cache_s": cache_s,
        "image_cache": "ram" if train_set.cache is not None else "none",
        "auto_estimate_bytes": estimate,
        "auto_would_cache": estimate <= 2 << 30,
        "rss_labels": rss_labels,
        "peak_rss": own,
        "peak_rss_worker": child,
        "peak_pss_total": sampler.peak_pss,
        "peak_rss_total": sampler.peak_rss,
        "processes": sampler.peak_procs,
    }


def run_child(spec: dict[str, Any], cache_dir: Path) -> dict[str, Any]:
    """Run one step in a fresh interpreter with its own label-cache folder."""
    env = {**os.environ, "YOLOV9_CACHE_DIR": str(cache_dir)}
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise RuntimeError(f"step {spec} failed with exit status {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------------ cache checks
def check_cache_file(path: Path) -> dict[str, Any]:
    """Every member a plain ``.npy`` that loads with ``allow_pickle=False``, no object
    arrays; a truncated copy is ignored (``cache.load`` returns None) rather than raising."""
    from yolov9.data import cache

    with zipfile.ZipFile(path) as z:
        members = z.namelist()
    plain = all(m.endswith(".npy") for m in members)
    dtypes = {}
    with np.load(path, allow_pickle=False) as z:
        for k in z.files:
            dtypes[k] = str(z[k].dtype)  # raises ValueError on an object array
    no_objects = not any(d.startswith("object") or d == "O" for d in dtypes.values())
    truncated = path.with_name(f"truncated-{path.name}")
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    try:
        truncated_ignored = cache.load(truncated) is None
    except Exception as e:  # a crash here is the failure this check looks for
        truncated_ignored = False
        print(f"  a truncated cache file raised {type(e).__name__}: {e}", flush=True)
    finally:
        truncated.unlink()
    return {
        "members": len(members),
        "plain_npy": plain,
        "no_object_arrays": no_objects,
        "truncated_ignored": truncated_ignored,
        "dtypes": dtypes,
    }


# --------------------------------------------------------------------------------- report
def _fmt(value: float) -> str:
    if value != value:  # NaN: not measured
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _short(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def table(title: str, sizes: Sequence[int], rows: list[tuple[str, list[float]]]) -> str:
    """One row per measure: its value at each N and its growth between consecutive N."""
    growth = [f"{_short(b)}/{_short(a)}" for a, b in itertools.pairwise(sizes)]
    head = ["", *(f"N={n:,}" for n in sizes), *growth]
    body = []
    for name, values in rows:
        ratios = [
            f"x{b / a:.2f}" if a > 0 and b > 0 else "-" for a, b in itertools.pairwise(values)
        ]
        body.append([name, *(_fmt(v) for v in values), *ratios])
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [title, "-" * len(title)]
    for r in [head, *body]:
        cells = [
            r[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)),
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def report(results: dict[str, Any]) -> str:
    sizes = [int(n) for n in results["sizes"]]
    per = [results["per_size"][str(n)] for n in sizes]
    out = [f"command: {results['command']}", f"machine: {results['machine']}", ""]

    def labels_rows(key: str) -> list[tuple[str, list[float]]]:
        steps = [p[key] for p in per]
        rows = [
            ("wall (s)", [s["wall_s"] for s in steps]),
            ("  per image (us)", [1e6 * s["wall_s"] / s["images"] for s in steps]),
        ]
        phase_names = {
            "_yolo_images": "  list images (s)",
            "fingerprint": "  fingerprint 2N files (s)",
            "read_yolo": "  read + check labels (s)",
            "save": "  write label cache (s)",
            "_save_masks": "  write mask cache (s)",
            "load": "  read label cache (s)",
            "_load_masks": "  read mask cache (s)",
        }
        for phase, label in phase_names.items():
            values = [s["phases_s"].get(phase, 0.0) for s in steps]
            if any(values):
                rows.append((label, values))
        rows += [
            ("peak RSS (MB)", [s["peak_rss"] / MB for s in steps]),
            ("RSS held by the records (MB)", [s["held_rss"] / MB for s in steps]),
            ("  per image (KB)", [s["held_rss"] / 1024 / s["images"] for s in steps]),
            ("label cache file (MB)", [s["cache_bytes"] / MB for s in steps]),
        ]
        return rows

    out.append(
        table("Labels, first load (scan + check + write cache)", sizes, labels_rows("first"))
    )
    out.append("")
    out.append(table("Labels, second load (cache hit)", sizes, labels_rows("second")))
    out.append("")
    for w in results["workers"]:
        steps = [p["loader"][str(w)] for p in per]
        rows = [
            ("images/s, whole pass (incl. start)", [s["images_per_s"] for s in steps]),
            ("images/s, steady", [s["steady_images_per_s"] for s in steps]),
            ("first batch (s)", [s["first_batch_s"] for s in steps]),
            ("peak RSS main (MB)", [s["peak_rss"] / MB for s in steps]),
        ]
        if results["image_cache"] != "none":
            rows.append(("decoding images into RAM (s)", [s["image_cache_s"] for s in steps]))
        if w:
            rows += [
                ("peak RSS largest worker (MB)", [s["peak_rss_worker"] / MB for s in steps]),
                ("peak PSS main + workers (MB)", [s["peak_pss_total"] / MB for s in steps]),
                ("peak RSS main + workers (MB)", [s["peak_rss_total"] / MB for s in steps]),
            ]
        title = (
            f"Loader, {w} worker{'s' if w != 1 else ''} (imgsz {results['imgsz']}, batch "
            f"{results['batch']}, default augmentation, data.cache {results['image_cache']})"
        )
        out += [table(title, sizes, rows), ""]
    out.append("Checks")
    out.append("------")
    for n, p in zip(sizes, per, strict=True):
        c = p["checks"]
        auto = p["loader"][str(results["workers"][0])]
        auto_choice = "ram" if auto["auto_would_cache"] else "none"
        out.append(
            f"N={n:,}: second load a hit (nothing parsed): {c['second_is_hit']}; touching one "
            f"label file invalidates it: {c['touch_invalidates']}; key covers {c['key_files']:,} "
            f"files (2N = {2 * (n + VAL_IMAGES):,} with val); npz members plain .npy: "
            f"{c['safety']['plain_npy']}, no object arrays: {c['safety']['no_object_arrays']}, "
            f"truncated file ignored: {c['safety']['truncated_ignored']}; data.cache auto -> "
            f"{auto_choice} (resized images {auto['auto_estimate_bytes'] / MB:,.0f} MB, budget "
            f"2,048 MB); dataset on disk {p['disk_bytes'] / MB:,.0f} MB"
        )
    return "\n".join(out)


# ----------------------------------------------------------------------------------- main
def measure(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(args.root)
    results: dict[str, Any] = {
        "command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
        "machine": f"{os.cpu_count()} CPUs; {args.machine}",
        "sizes": args.sizes,
        "workers": args.workers,
        "imgsz": args.imgsz,
        "batch": args.batch,
        "image_cache": args.image_cache,
        "per_size": {},
    }
    for n in args.sizes:
        data = generate(root, n)
        cache_dir = Path(tempfile.mkdtemp(prefix=f"yolov9_bigcache_n{n}_"))
        try:
            per: dict[str, Any] = {"disk_bytes": disk_usage(data.parent)}
            print(f"N={n:,}: labels, first load", flush=True)
            per["first"] = run_child({"step": "labels", "data": str(data)}, cache_dir)
            print(f"N={n:,}: labels, second load", flush=True)
            per["second"] = run_child({"step": "labels", "data": str(data)}, cache_dir)
            train_cache = Path(per["first"]["cache_files"][0])
            for f in per["first"]["cache_files"]:  # the train split's is the larger
                if Path(f).stat().st_size > train_cache.stat().st_size:
                    train_cache = Path(f)
            checks: dict[str, Any] = {
                "second_is_hit": per["second"]["parsed"] == 0,
                "safety": check_cache_file(train_cache),
            }
            checks["key_files"] = per["first"]["fingerprint_files"]
            labels = sorted((data.parent / "labels" / "train").rglob("*.txt"))
            victim = labels[len(labels) // 2]
            st = victim.stat()
            os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
            print(f"N={n:,}: labels after touching {victim.name}", flush=True)
            third = run_child({"step": "labels", "data": str(data)}, cache_dir)
            checks["touch_invalidates"] = third["parsed"] > 0
            per["checks"] = checks
            per["loader"] = {}
            for w in args.workers:
                print(f"N={n:,}: loader, {w} workers", flush=True)
                spec = {
                    "step": "loader",
                    "data": str(data),
                    "workers": w,
                    "imgsz": args.imgsz,
                    "batch": args.batch,
                    "images": args.loader_images,
                    "cache": args.image_cache,
                }
                per["loader"][str(w)] = run_child(spec, cache_dir)
            results["per_size"][str(n)] = per
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", default=str(DEFAULT_ROOT), help="where the datasets are generated")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2, 8])
    ap.add_argument("--imgsz", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--loader-images", type=int, default=3200, help="images per loader pass")
    ap.add_argument(
        "--image-cache",
        default="none",
        choices=["none", "auto", "ram"],
        help="data.cache for the loader (default none: no image kept decoded in memory)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: N = 200, 1000; 640 images")
    ap.add_argument("--machine", default="shared machine, indicative", help="noted in the report")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        if spec["step"] == "labels":
            result = child_labels(spec["data"])
        else:
            result = child_loader(
                spec["data"],
                spec["workers"],
                spec["imgsz"],
                spec["batch"],
                spec["images"],
                spec["cache"],
            )
        print(json.dumps(result))
        return
    if args.quick:
        args.sizes, args.loader_images = [200, 1000], 640
    results = measure(args)
    text = report(results)
    print("\n" + text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
