"""Small-data instance segmentation, side by side: our defaults vs ultralytics' defaults.

    python benchmarks/bench_seg_small_data.py                          # the full benchmark
    python benchmarks/bench_seg_small_data.py --only ultralytics --epochs 1 --train 16 --val 8 \\
        --out /tmp/seg_smoke                                           # a smoke run

What it measures: box AND mask COCO AP50-95 / AP50 / AP75 of each model's best checkpoint on
the same validation split, scored by OUR evaluator, plus the median seconds per training epoch
(training loop only, no validation) and the whole run's wall time.

Data: ``--train`` + ``--val`` generated images (default 320 + 80, 256 px): 4 shape classes
(circle, square, triangle, star) with exact polygon masks, pasted on random crops of the 128
COCO photos in ``../shared/data/coco128_train2017/images``, written as YOLO segmentation
labels (normalised polygons, whole-pixel vertices, objects never overlapping) and COCO JSON
by ``yolov9.data.synthetic.write_dataset(..., masks=True)``; kept under ``--out`` (one
folder per size and seed) and reused by later runs.

Models, trained from scratch for ``--epochs`` (30) at 256 px, batch 16, each with its own
library's defaults:
  * ``yolov9-t-seg``: ours, the smallest PGI segmentation model (auxiliary branch);
  * ``gelan-t-seg``: ours, same network without the auxiliary branch;
  * ``ultralytics``: ultralytics' current smallest segmentation model, by default
    ``YOLO("yolo26n-seg.yaml")`` (built from its YAML, nothing downloaded; ``--ultralytics-model
    yolo11n-seg.yaml`` for the previous generation), run in its own environment
    (``--ultralytics-python``, default /tmp/ulvenv/bin/python; never our dependency) through a
    job script written next to the results. The job trains with ultralytics' defaults, runs its
    own val (printed for comparison), then predicts the validation images at conf 0.001,
    IoU 0.7, 300 detections, ``retina_masks=True`` (masks at image resolution) and writes each
    detection's box and COCO RLE mask; this script scores them with
    ``yolov9.engine.evaluator.score_predictions``. (Its predict drops detections whose mask
    is empty, its own val keeps them: after very little training the two can differ, and
    a model that predicts no non-empty mask scores 0 here.) Epoch seconds come from its
    ``on_train_epoch_start/end`` callbacks (the training loop only, as ours). Its default
    on a CPU is ``torch.set_num_threads(cpu_count - 1)``: 1 thread on a 2-core machine (the
    job records it); ours uses torch's default (all cores).

Our models are scored with ``Evaluator(...).run(load_backend(best))`` at conf 0.001, IoU 0.7,
300 detections. Results go to ``--out`` (summary.json and each run); the exact command and a
markdown table are printed at the end. A model that fails (e.g. ours while segmentation
training is being wired up) is reported as failed and the others still run.

The ultralytics environment (recreate with; download.pytorch.org is not reachable here and
PyPI's torchvision needs PyPI's CUDA-built torch, which runs on the CPU just the same):

    python3 -m venv /tmp/ulvenv
    /tmp/ulvenv/bin/pip install torch==2.13.0 torchvision==0.28.0 ultralytics faster-coco-eval

(pip must take PyPI's torch 2.13.0, not a local 2.13.0+cpu wheel, which PyPI's torchvision
cannot load; measured with ultralytics 8.4.190, torch 2.13.0+cu130, torchvision 0.28.0+cu130, numpy
2.4.6, opencv-python 5.0.0.93, faster-coco-eval 1.8.0).

Run it on an otherwise idle machine: with 2 threads on 2 cores, one other busy process can
make an epoch take many times as long (OpenMP threads waiting for a descheduled peer).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import textwrap
import time
import traceback
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
OURS = ("yolov9-t-seg", "gelan-t-seg")

ULTRALYTICS_JOB = textwrap.dedent("""
    # Written and run by benchmarks/bench_seg_small_data.py in the ultralytics environment.
    import json, sys, time
    from pathlib import Path
    import numpy as np
    from ultralytics import YOLO
    try:
        from faster_coco_eval.core import mask as mask_util
    except ImportError:
        from pycocotools import mask as mask_util
    data, out, cfg, epochs, imgsz, batch, val_dir = sys.argv[1:8]
    epochs, imgsz, batch = int(epochs), int(imgsz), int(batch)
    epoch_s, clock = [], {}
    model = YOLO(cfg)  # a YAML: built from scratch, no weights downloaded
    import torch
    model.add_callback(
        "on_train_epoch_start",
        lambda t: clock.update(s=time.perf_counter(), threads=torch.get_num_threads()),
    )
    model.add_callback(
        "on_train_epoch_end", lambda t: epoch_s.append(time.perf_counter() - clock["s"])
    )
    start = time.time()
    model.train(data=data, epochs=epochs, imgsz=imgsz, batch=batch, device="cpu",
                project=out, name="run", exist_ok=True, plots=False)
    train_s = time.time() - start
    best = Path(model.trainer.best)
    model = YOLO(str(best))
    own = model.val(data=data, imgsz=imgsz, batch=batch, device="cpu", plots=False)
    preds = []
    images = sorted(Path(val_dir).glob("*.png"))
    for r in model.predict(images, imgsz=imgsz, conf=0.001, iou=0.7, max_det=300,
                           device="cpu", stream=True, verbose=False, retina_masks=True):
        b = r.boxes
        masks = r.masks.data.cpu().numpy() > 0.5 if r.masks is not None else np.zeros((0, 1, 1))
        h, w = r.orig_shape
        assert masks.shape[0] == len(b) and (len(b) == 0 or masks.shape[1:] == (h, w))
        for k, (box, s, c) in enumerate(zip(b.xyxy.tolist(), b.conf.tolist(), b.cls.tolist())):
            rle = mask_util.encode(np.asfortranarray(masks[k].astype(np.uint8)))
            counts = rle["counts"]
            counts = counts.decode("ascii") if isinstance(counts, bytes) else counts
            preds.append({"file": Path(r.path).name, "cls": int(c), "score": s, "box": box,
                          "rle": {"size": [int(h), int(w)], "counts": counts}})
    import ultralytics
    result = {
        "preds": preds, "train_s": train_s, "epoch_s": epoch_s, "best": str(best),
        "own": {"box_AP": float(own.box.map), "box_AP50": float(own.box.map50),
                "mask_AP": float(own.seg.map), "mask_AP50": float(own.seg.map50)},
        "versions": {"ultralytics": ultralytics.__version__, "torch": torch.__version__,
                     "torch threads in training": clock.get("threads")},
    }
    json.dump(result, open(Path(out) / "result.json", "w"))
""")


# ----------------------------------------------------------------------------- data
def make_dataset(root: Path, n_train: int, n_val: int, imgsz: int, seed: int) -> Path:
    """The generated segmentation dataset; returns its YOLO data.yaml (kept if present)."""
    data = root / "data.yaml"
    if data.is_file():
        return data
    photos = sorted((SHARED / "coco128_train2017" / "images").glob("*.jpg"))
    if not photos:
        sys.exit(f"no photos under {SHARED}: this benchmark needs ../shared/data")
    from yolov9.data.synthetic import write_dataset

    written = write_dataset(
        root,
        splits={"train": n_train, "val": n_val},
        size=(imgsz, imgsz),
        seed=seed,
        formats=("yolo", "coco"),
        masks=True,
        photos=photos,
    )
    return Path(written["yolo"])


# ----------------------------------------------------------------------------- runs
def ours(data: Path, out: Path, model: str, args: argparse.Namespace) -> dict[str, Any]:
    import yolov9.api

    start = time.time()
    result = yolov9.api.train(
        model=model,
        data=str(data),
        imgsz=args.imgsz,
        batch=args.batch,
        epochs=args.epochs,
        out=str(out / model),
        exist_ok=True,
        seed=args.seed,
        overrides=args.set,
    )
    return {
        "train_s": time.time() - start,
        "epoch_s": [r["time"] for r in result.history if "time" in r],
        "curve": [round(r.get("mask/AP", float("nan")), 4) for r in result.history],
        "best": str(result.best_converted or result.best),
    }


def ultralytics(data: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    run = out / "ultralytics"
    run.mkdir(parents=True, exist_ok=True)
    job = run / "ultralytics_job.py"
    job.write_text(ULTRALYTICS_JOB)
    cmd = [
        args.ultralytics_python,
        str(job),
        str(data),
        str(run),
        args.ultralytics_model,
        str(args.epochs),
        str(args.imgsz),
        str(args.batch),
        str(data.parent / "images" / "val"),
    ]
    print("# ultralytics job:", " ".join(cmd))
    # YOLO_OFFLINE: no font, update or hub look-ups (this machine reaches no such host)
    subprocess.run(cmd, check=True, env={**os.environ, "YOLO_OFFLINE": "1"})
    return json.loads((run / "result.json").read_text())


# ----------------------------------------------------------------------------- scoring
def _ap(m: Any) -> dict[str, float] | None:
    return None if m is None else {"AP": m.AP, "AP50": m.AP50, "AP75": m.AP75}


def score(
    data: Path, imgsz: int, weights: str | None = None, preds: list | None = None
) -> dict[str, Any]:
    """Box and mask COCO metrics by our evaluator: of a checkpoint, or of foreign predictions
    ({file, cls, score, box xyxy, rle})."""
    from yolov9.data.dataset import load_dataset
    from yolov9.engine.evaluator import Evaluator, score_predictions

    ds = load_dataset(data, "val")
    if weights:
        from yolov9.inference import load_backend

        r = Evaluator(ds, imgsz=imgsz, batch_size=16, progress=False).run(load_backend(weights))
        return {"box": _ap(r.metrics), "mask": _ap(r.mask_metrics)}
    import numpy as np

    from yolov9.metrics.coco import to_coco_results

    ids = {Path(r.path).name: r.image_id for r in ds.records}
    results: list[dict[str, Any]] = []
    for p in preds or []:
        results += to_coco_results(
            ids[p["file"]],
            np.array([p["box"]], np.float64),
            np.array([p["score"]]),
            np.array([p["cls"]]),
            ds.category_ids,
            masks=[p["rle"]],
        )
    box, mask = score_predictions(ds, results)
    if not results:  # no detection at all (e.g. every mask empty): zero, like the boxes
        mask = box
    return {"box": _ap(box), "mask": _ap(mask)}


# ----------------------------------------------------------------------------- main
def _fmt(m: dict[str, float] | None, key: str) -> str:
    return "n/a" if not m else f"{m[key]:.4f}"


def table(rows: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| model | box AP50-95 | box AP50 | mask AP50-95 | mask AP50 "
        "| median epoch s | train min |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} | | | | | |")
            continue
        epoch = f"{statistics.median(r['epoch_s']):.1f}" if r.get("epoch_s") else "n/a"
        lines.append(
            f"| {r.get('label', name)} | {_fmt(r['box'], 'AP')} | {_fmt(r['box'], 'AP50')} | "
            f"{_fmt(r['mask'], 'AP')} | {_fmt(r['mask'], 'AP50')} | {epoch} | "
            f"{r['train_s'] / 60:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", nargs="*", default=[*OURS, "ultralytics"])
    ap.add_argument("--out", default="runs/bench/seg_small_data")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--train", type=int, default=320, help="training images to generate")
    ap.add_argument("--val", type=int, default=80, help="validation images to generate")
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ultralytics-python", default="/tmp/ulvenv/bin/python")
    ap.add_argument("--ultralytics-model", default="yolo26n-seg.yaml")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config values for our runs (as yolov9 train --set), e.g. optim.warmup_epochs=3",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out).resolve()
    folder = out / f"data-{args.train}-{args.val}-{args.imgsz}px-seed{args.seed}"
    data = make_dataset(folder, args.train, args.val, args.imgsz, args.seed)
    rows: dict[str, dict[str, Any]] = {}
    for name in args.only:
        try:
            if name == "ultralytics":
                r = ultralytics(data, out, args)
                preds = r.pop("preds")
                rows[name] = {
                    **score(data, args.imgsz, preds=preds),
                    **r,
                    "label": f"ultralytics {Path(args.ultralytics_model).stem}",
                }
            else:
                r = ours(data, out, name, args)
                rows[name] = {**score(data, args.imgsz, weights=r["best"]), **r}
        except Exception as e:  # report and go on: one broken side must not hide the others
            traceback.print_exc()
            rows[name] = {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[-1:]}"}
        (out / "summary.json").write_text(json.dumps(rows, indent=1))
    print(f"\n# command: python {' '.join(sys.argv)}")
    print(f"# load average at the end: {os.getloadavg()[0]:.1f} (run on an idle machine)")
    print(f"# data: {data} ({args.train} train, {args.val} val, {args.imgsz} px)\n")
    print(table(rows))
    for name, r in rows.items():
        if r.get("curve"):
            print(f"{name} mask AP50-95 by epoch: {r['curve']}")
        if "own" in r:
            o = r["own"]
            print(
                f"{name} own val ({r['versions']}): box mAP50-95 {o['box_AP']:.4f} "
                f"mAP50 {o['box_AP50']:.4f}, mask mAP50-95 {o['mask_AP']:.4f} "
                f"mAP50 {o['mask_AP50']:.4f}"
            )


if __name__ == "__main__":
    main()
