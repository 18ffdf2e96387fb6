"""Training throughput and peak memory: ours against the reference implementation.

    python benchmarks/bench_train_speed.py                  # detection: yolov9-t, coco128, b8
    python benchmarks/bench_train_speed.py --task segment   # yolov9-c-seg, generated, b4
    python benchmarks/bench_train_speed.py --task panoptic --variants ours ours-fp32 ours-pgi \
        reference                                           # gelan-c-pan, generated, b4
    python benchmarks/bench_train_speed.py --task segment --rounds 1 --iters 3 --warmup 1 \\
        --train 16 --out /tmp/seg_speed_smoke               # a smoke run

What it measures: the median seconds per training iteration at 320 px, 2 threads, on the
CPU, and from it images per second; and each training process's peak RSS. For
``--task detect`` (default): YOLOv9-T (ours ``yolov9-t``, the reference's ``train_dual.py``
with ``models/detect/yolov9-t.yaml``), batch 8, on coco128 from ``../shared/data``. For
``--task segment``: YOLOv9-C segmentation (ours ``yolov9-c-seg``, the reference's
``segment/train_dual.py`` with ``models/segment/yolov9-c-dseg.yaml``: the same PGI network
with the dual segmentation head), batch 4, on ``--train`` (64) + 8 generated images at 320 px,
4 shape classes with exact polygon masks on crops of the COCO photos in ``../shared/data``
(``yolov9.data.synthetic.write_dataset(..., masks=True)``). Both trainers read the same
``data.yaml``. For ``--task panoptic``: GELAN-C panoptic (ours ``gelan-c-pan``, the
reference's single-head ``panoptic/train.py`` with ``models/panoptic/gelan-c-pan.yaml``: its
dual graph does not build), batch 4, on the panoptic demo's generated world in the authors'
format (things over stuff, laid out as their COCO model: 80 + 93 channels), one YAML each
(ours names the stuff split, theirs finds ``stuff/`` beside ``images/``); variant ``ours-pgi``
trains ``yolov9-c-pan`` (what PGI costs).

Variants (``--variants``), each trained from scratch in its own fresh process:
  * ``ours``: ``yolov9.api.train(model="yolov9-c-seg", ...)`` with our default precision
    (``auto``: bf16 autocast on CPUs with native bf16, else fp32);
  * ``ours-fp32``: the same in fp32 (what the reference runs on a CPU);
  * ``reference``: WongKinYiu/yolov9 ``[segment/]train_dual.py --cfg <its yaml> --hyp
    data/hyps/hyp.scratch-high.yaml --weights '' --img 320 --batch B --device cpu --noval
    --noplots``, run from an exported tree
    (``--ref-root``, default /tmp/refyolov9) with another environment's python
    (``--ref-python``, default /tmp/refvenv/bin/python).
Ours runs ``--recipe paper`` by default (SGD, gradients accumulated to the nominal batch 64,
mosaic, MixUp, copy-paste: what ``hyp.scratch-high`` does), so both take an optimiser step
every 64 / batch iterations; ``--recipe auto`` measures our out-of-the-box choice instead.

Method: rounds alternate the variants (ours, ours-fp32, reference, ours, ...) so that load
from other jobs on the shared machine falls on all of them alike. In each process the training
loop's progress bar is replaced, before training starts, by a timing subclass of ``tqdm``
(identical code for both sides, ``TIMER`` below): it stamps the clock each time the loop asks
for its next batch, so one iteration is the loop's own work for one batch, data loading
(mosaic, augmentation, mask targets) included: forward, loss, backward, and the optimiser
and EMA when they step. Nothing else of either trainer is changed: the reference's files are
not edited, only its module's ``tqdm`` name is rebound by a wrapper that imports
``segment.train_dual`` and calls its ``main``. After ``--iters`` iterations the timer stops the
process (so no validation or checkpoint is timed). The first ``--warmup`` iterations of every
process are dropped (oneDNN primitive creation, allocator growth); the figure is the median of
the rest, pooled over rounds. Both sides load data in the training process (``--workers 0``,
our default on 2 cores); peak RSS is the process's ``ru_maxrss``, and the parent also samples
the whole process tree (workers included, if any) every 0.2 s.

The reference's environment and tree (its files are never edited):

    mkdir -p /tmp/refyolov9
    git -C <mirror of WongKinYiu/yolov9> archive HEAD | tar -x -C /tmp/refyolov9
    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 torchvision==0.28.0 "numpy<2" "setuptools<81" \
        -r /tmp/refyolov9/requirements.txt

``numpy<2``: its metrics call ``np.trapz`` (removed in numpy 2.4); ``setuptools<81``: its
``utils/general.py`` imports ``pkg_resources``. Measured with commit 5b1ea9a8 (2024-06-10),
torch 2.13.0+cu130 (PyPI's build; the same CPU kernels as our 2.13.0+cpu), numpy 1.26.4,
opencv-python 4.11.0.86, albumentations 2.0.8.

Run it on an otherwise idle machine: with 2 OpenMP threads on 2 cores, one other busy process
makes every parallel region wait for a descheduled thread (a gelan-c training-mode forward at
320 px, batch 4 measured 1.3 s with 1 thread and 11.8 s with 2 while a test suite ran). The
script prints the load average before it starts and after every process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

# The timing progress bar: exec'd in our worker and pasted into the reference's wrapper.
TIMER = textwrap.dedent("""
    import time as _time
    import tqdm as _tqdm_module

    TIMES = []
    LIMIT = [0]

    class StopTiming(BaseException):
        '''Raised by the timer after LIMIT iterations (BaseException: no trainer catches it).'''

    class TimedTqdm(_tqdm_module.tqdm):
        '''tqdm that records the seconds between consecutive requests for the next batch.'''

        def __iter__(self):
            last = _time.perf_counter()
            for item in super().__iter__():
                yield item  # the loop body runs here
                now = _time.perf_counter()
                TIMES.append(now - last)
                last = now
                if len(TIMES) >= LIMIT[0]:
                    raise StopTiming
""")

REF_WRAPPER = TIMER + textwrap.dedent("""
    # Written and run by benchmarks/bench_train_speed.py with the reference's environment.
    import importlib, json, os, resource, sys
    ref_root, result_file, iters, threads, script = sys.argv[1:6]
    LIMIT[0] = int(iters)
    sys.path.insert(0, ref_root)
    os.chdir(ref_root)
    import torch
    torch.set_num_threads(int(threads))
    td = importlib.import_module(script[: -len(".py")].replace("/", "."))
    td.tqdm = TimedTqdm  # the training loop's progress bar only (val_dual has its own)
    sys.argv = [script, *sys.argv[6:]]
    opt = td.parse_opt()
    try:
        td.main(opt)
    except StopTiming:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(result_file, "w") as f:
        json.dump({"times": TIMES, "peak_rss_mib": peak, "torch": torch.__version__}, f)
    os._exit(0)  # skip the data loader's and the loggers' teardown
""")


def worker(args: argparse.Namespace) -> None:
    """Ours, in this process: yolov9.api.train with the timing progress bar."""
    import logging
    import resource

    timer: dict[str, Any] = {}
    exec(TIMER, timer)
    timer["LIMIT"][0] = args.iters
    import torch

    import yolov9.api
    import yolov9.engine.trainer

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    yolov9.engine.trainer.tqdm = timer["TimedTqdm"]  # type: ignore[attr-defined]
    try:
        yolov9.api.train(
            model=args.model,
            data=args.data,
            imgsz=args.imgsz,
            batch=args.batch,
            workers=args.workers,
            epochs=1000,
            precision=args.precision,
            recipe=args.recipe,
            val_every=1000,
            out=args.worker_out,
            exist_ok=True,
        )
    except timer["StopTiming"]:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.result).write_text(
        json.dumps({"times": timer["TIMES"], "peak_rss_mib": peak, "torch": torch.__version__})
    )
    os._exit(0)


# per task: our model, the reference's script and model yaml, the batch
TASKS = {
    "detect": ("yolov9-t", "train_dual.py", "models/detect/yolov9-t.yaml", 8),
    "segment": ("yolov9-c-seg", "segment/train_dual.py", "models/segment/yolov9-c-dseg.yaml", 4),
    # the single-head trainer: the reference's dual panoptic graph does not build
    "panoptic": ("gelan-c-pan", "panoptic/train.py", "models/panoptic/gelan-c-pan.yaml", 4),
}
PGI_PANOPTIC = "yolov9-c-pan"  # variant ours-pgi: what PGI costs on top of gelan-c-pan


def make_panoptic_dataset(root: Path, n_train: int, imgsz: int, seed: int) -> tuple[Path, Path]:
    """The panoptic demo's generated world in the authors' format, laid out as the authors'
    COCO model (80 thing channels, then 93 stuff): things keep classes 0-2, stuff moves to
    80 + its index. Returns (our data YAML, the reference's data YAML)."""
    import yaml

    from yolov9.data.coco80 import COCO80_NAMES
    from yolov9.data.coco_panoptic import COCO_STUFF
    from yolov9.data.synthetic_world import THINGS, write_world

    if not (root / "ours.yaml").is_file():
        write_world(root, {"train": n_train, "val": 8}, (imgsz, imgsz), seed=seed)
        for stuff_file in (root / "stuff").rglob("*.txt"):
            lines = []
            for line in stuff_file.read_text().splitlines():
                cls, _, rest = line.partition(" ")
                c = int(cls)
                lines.append(f"{c if c < len(THINGS) else 80 + c - len(THINGS)} {rest}")
            stuff_file.write_text("\n".join(lines) + "\n")
        names = list(COCO80_NAMES)
        stuff = [name for _, name, _ in COCO_STUFF]
        ours = {"path": str(root), "names": names, "stuff_names": stuff}
        ours |= {s: {"images": f"images/{s}", "stuff": f"stuff/{s}"} for s in ("train", "val")}
        (root / "ours.yaml").write_text(yaml.safe_dump(ours, sort_keys=False))
        ref = {"path": str(root), "train": "images/train", "val": "images/val", "nc": 80}
        ref["names"] = dict(enumerate(names))
        (root / "reference.yaml").write_text(yaml.safe_dump(ref, sort_keys=False))
    return root / "ours.yaml", root / "reference.yaml"


def make_dataset(root: Path, n_train: int, imgsz: int, seed: int) -> Path:
    """The small-data benchmark's generated dataset with 8 validation images (unused here)."""
    from bench_seg_small_data import make_dataset as generate  # same folder: a script's path

    return generate(root, n_train, 8, imgsz, seed)


def coco128(root: Path) -> Path:
    """A data.yaml for coco128 (``../shared/data/coco128_train2017``), both splits its images."""
    images = SHARED / "coco128_train2017" / "images"
    if not images.is_dir():
        sys.exit(f"{images} not found: the detection benchmark trains on coco128")
    from yolov9.data.coco80 import COCO80_NAMES

    root.mkdir(parents=True, exist_ok=True)
    path = root / "coco128.yaml"
    lines = [f"train: {images}", f"val: {images}", "names:"]
    lines += [f"  {i}: {name}" for i, name in enumerate(COCO80_NAMES)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_sampled(cmd: list[str], env: dict[str, str], log: Path) -> tuple[int, float]:
    """Run ``cmd`` (output to ``log``); return its exit code and the peak RSS (MiB) of its
    process tree, sampled every 0.2 s."""
    import psutil

    peak = [0.0]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            root = psutil.Process(proc.pid)
            while not done.is_set():
                try:
                    procs = [root, *root.children(recursive=True)]
                    rss = sum(p.memory_info().rss for p in procs if p.is_running())
                    peak[0] = max(peak[0], rss / 2**20)
                except psutil.Error:
                    pass
                done.wait(0.2)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        code = proc.wait()
        done.set()
        thread.join()
    return code, peak[0]


def command(
    variant: str, args: argparse.Namespace, data: Path, tmp: Path, result: Path, ref_data: Path
) -> list:
    if variant == "reference":
        wrapper = tmp / "ref_timed_train.py"
        wrapper.write_text(REF_WRAPPER)
        return [
            args.ref_python,
            str(wrapper),
            str(Path(args.ref_root).resolve()),
            str(result),
            str(args.iters),
            str(args.threads),
            TASKS[args.task][1],
            "--weights",
            "",
            "--cfg",
            TASKS[args.task][2],
            "--hyp",
            "data/hyps/hyp.scratch-high.yaml",
            "--data",
            str(ref_data),
            "--img",
            str(args.imgsz),
            "--batch-size",
            str(args.batch),
            "--epochs",
            "1000",
            "--device",
            "cpu",
            "--workers",
            str(args.workers),
            "--project",
            str(tmp / "ref-runs"),
            "--name",
            "exp",
            "--exist-ok",
            "--noval",
            "--noplots",
        ]
    precision = "fp32" if variant == "ours-fp32" else "auto"
    return [
        sys.executable,
        __file__,
        "--worker",
        "--result",
        str(result),
        "--model",
        PGI_PANOPTIC if variant == "ours-pgi" else args.model,
        "--data",
        str(data),
        "--imgsz",
        str(args.imgsz),
        "--batch",
        str(args.batch),
        "--threads",
        str(args.threads),
        "--workers",
        str(args.workers),
        "--iters",
        str(args.iters),
        "--precision",
        precision,
        "--recipe",
        args.recipe,
        "--worker-out",
        str(tmp / f"runs-{variant}"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--task", choices=sorted(TASKS), default="detect")
    ap.add_argument("--variants", nargs="+", default=["ours", "ours-fp32", "reference"])
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of all variants")
    ap.add_argument("--iters", type=int, default=12, help="iterations per process")
    ap.add_argument("--warmup", type=int, default=4, help="first iterations of a process dropped")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, help="default: 8 (detect), 4 (segment)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="data loader workers, both sides")
    ap.add_argument("--train", type=int, default=64, help="training images to generate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--recipe", default="paper", help="ours: paper (like hyp.scratch-high) or auto")
    ap.add_argument("--model", help="our model (default: yolov9-t, yolov9-c-seg)")
    ap.add_argument("--ref-python", default="/tmp/refvenv/bin/python")
    ap.add_argument("--ref-root", default="/tmp/refyolov9", help="exported reference tree")
    ap.add_argument("--out", help="folder for the data, logs and results (default: a temp dir)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    if args.iters <= args.warmup:
        sys.exit("--iters must exceed --warmup")
    args.model = args.model or TASKS[args.task][0]
    args.batch = args.batch or TASKS[args.task][3]
    tmp = Path(args.out or tempfile.mkdtemp(prefix="bench_train_speed_")).resolve()
    tmp.mkdir(parents=True, exist_ok=True)
    ref_data = None
    if args.task == "detect":
        data = coco128(tmp)
        args.train = 128
    elif args.task == "panoptic":
        folder = tmp / f"pan-data-{args.train}-{args.imgsz}px-seed{args.seed}"
        data, ref_data = make_panoptic_dataset(folder, args.train, args.imgsz, args.seed)
    else:
        data = make_dataset(
            tmp / f"data-{args.train}-{args.imgsz}px-seed{args.seed}",
            args.train,
            args.imgsz,
            args.seed,
        )
    # The reference's font check would download Arial.ttf (no network here): give it a local
    # font in its own config dir. Its strip_optimizer's torch.load needs weights_only off
    # under torch >= 2.6 (never reached when the timer stops the run).
    config = tmp / "ref-config"
    config.mkdir(exist_ok=True)
    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if font.is_file() and not (config / "Arial.ttf").exists():
        (config / "Arial.ttf").symlink_to(font)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "YOLOV5_CONFIG_DIR": str(config),
        "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1",
        "YOLOV9_CACHE_DIR": str(tmp / "cache"),
    }
    print(f"# command: python {' '.join(sys.argv)}", flush=True)
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"# warning: load average {load:.1f} before starting: with {args.threads} thread(s) "
            "on a busy machine OpenMP threads wait for each other and iterations can take "
            "10x as long; run this on an idle machine",
            flush=True,
        )
    results: dict[str, dict[str, Any]] = {
        v: {"times": [], "rss": [], "tree": [], "torch": None, "failed": None}
        for v in args.variants
    }
    for r in range(args.rounds):
        for variant in args.variants:
            result = tmp / f"result-{variant}-{r}.json"
            log = tmp / f"log-{variant}-{r}.txt"
            cmd = command(variant, args, data, tmp, result, ref_data or data)
            start = time.time()
            code, tree = run_sampled(cmd, env, log)
            row = results[variant]
            if code != 0 or not result.is_file():
                tail = log.read_text(errors="replace").strip().splitlines()[-1:]
                row["failed"] = f"exit {code}: {tail}"
                print(f"round {r + 1} {variant}: failed ({row['failed']}), log {log}", flush=True)
                continue
            got = json.loads(result.read_text())
            kept = got["times"][args.warmup :]
            row["times"] += kept
            row["rss"].append(got["peak_rss_mib"])
            row["tree"].append(tree)
            row["torch"] = got["torch"]
            print(
                f"round {r + 1} {variant}: {len(got['times'])} iterations in "
                f"{time.time() - start:.0f} s (process), s/iter "
                f"{[round(t, 2) for t in got['times']]}, peak RSS {got['peak_rss_mib']:.0f} MiB, "
                f"load average after {os.getloadavg()[0]:.1f}",
                flush=True,
            )
    (tmp / "summary.json").write_text(json.dumps(results, indent=1))
    print(
        f"\n# data {data} ({args.train} images), {args.imgsz} px, batch {args.batch}, "
        f"{args.threads} threads, {args.workers} loader workers, our recipe {args.recipe}; "
        f"median of {args.rounds} rounds x {args.iters - args.warmup} iterations after "
        f"{args.warmup} warm-up\n"
    )
    print(
        "| variant | torch | median s/iter | images/s | iterations | peak RSS MiB (process) "
        "| peak RSS MiB (tree) |\n|---|---|---:|---:|---:|---:|---:|"
    )
    for variant, row in results.items():
        if not row["times"]:
            print(f"| {variant} | | failed: {row['failed']} | | | | |")
            continue
        med = statistics.median(row["times"])
        print(
            f"| {variant} | {row['torch']} | {med:.2f} | {args.batch / med:.2f} | "
            f"{len(row['times'])} | {max(row['rss']):.0f} | {max(row['tree']):.0f} |"
        )
    if "reference" in results and results["reference"]["times"]:
        ref = statistics.median(results["reference"]["times"])
        for variant in ("ours", "ours-fp32"):
            if variant in results and results[variant]["times"]:
                ratio = ref / statistics.median(results[variant]["times"])
                print(f"{variant} against the reference: {ratio:.2f}x the images/s")


if __name__ == "__main__":
    main()
