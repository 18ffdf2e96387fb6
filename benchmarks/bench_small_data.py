"""Small-data training, side by side: our defaults vs the popular alternative's defaults.

    python benchmarks/bench_small_data.py --ultralytics-python /tmp/ulvenv/bin/python

Generates 320 training + 80 validation images (256 px, 4 shape classes pasted on random crops
of the shared COCO photos), then trains from scratch for 30 epochs at 256 px, batch 16:
  * yolov9-t with PGI, our default recipe;
  * gelan-t (no auxiliary branch), our default recipe, to show PGI's effect;
  * ultralytics' yolov9t with its defaults, in its own environment (never our dependency).
Every model is scored by the same evaluator: COCO AP of its predictions on the 80 validation
images at conf 0.001, IoU 0.7, 300 detections (ultralytics' own val mAP is printed too).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

ULTRALYTICS_JOB = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from ultralytics import YOLO
    data, out, epochs, imgsz, batch, val_dir = sys.argv[1:7]
    start = time.time()
    model = YOLO("yolov9t.yaml")
    model.train(data=data, epochs=int(epochs), imgsz=int(imgsz), batch=int(batch), device="cpu",
                workers=2, project=out, name="run", exist_ok=True, plots=False)
    train_s = time.time() - start
    own = model.val(data=data, imgsz=int(imgsz), batch=int(batch), device="cpu", plots=False)
    preds = []
    images = sorted(Path(val_dir).glob("*.png"))
    for r in model.predict(images, imgsz=int(imgsz), conf=0.001, iou=0.7, max_det=300,
                           device="cpu", stream=True, verbose=False):
        b = r.boxes
        for box, s, c in zip(b.xyxy.tolist(), b.conf.tolist(), b.cls.tolist()):
            preds.append({"file": Path(r.path).name, "cls": int(c), "score": s, "box": box})
    result = {"preds": preds, "own_map50_95": float(own.box.map),
              "own_map50": float(own.box.map50), "train_s": train_s}
    json.dump(result, open(Path(out) / "result.json", "w"))
""")


def ours(data: Path, out: Path, model: str, args: argparse.Namespace) -> dict:
    from yolov9.config import resolve
    from yolov9.engine.training import train

    cfg = resolve(
        None,
        args.set,
        **{
            "model.name": model,
            "data.data": str(data),
            "data.imgsz": args.imgsz,
            "data.batch": args.batch,
            "epochs": args.epochs,
            "out": str(out / model),
            "exist_ok": True,
            "seed": args.seed,
        },
    )
    start = time.time()
    result = train(cfg)
    curve = [round(r.get("AP", float("nan")), 4) for r in result.history]
    return {"train_s": time.time() - start, "curve": curve, "best": str(result.best)}


def score(data: Path, weights: str | None = None, preds: list | None = None) -> dict:
    from yolov9.data.dataset import load_dataset
    from yolov9.engine.evaluator import Evaluator, score_predictions
    from yolov9.inference import load_backend
    from yolov9.metrics.coco import to_coco_results

    ds = load_dataset(data, "val")
    if weights:
        m = (
            Evaluator(ds, imgsz=256, batch_size=16, progress=False)
            .run(load_backend(weights))
            .metrics
        )
    else:
        import numpy as np

        ids = {Path(r.path).name: r.image_id for r in ds.records}
        results = []
        for p in preds or []:
            results += to_coco_results(
                ids[p["file"]],
                np.array([p["box"]]),
                np.array([p["score"]]),
                np.array([p["cls"]]),
                ds.category_ids,
            )
        m = score_predictions(ds, results)
    return {"AP": m.AP, "AP50": m.AP50, "AP75": m.AP75}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ultralytics-python", help="python of an environment with ultralytics")
    ap.add_argument("--out", default="runs/bench/small_data")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", default=["yolov9-t", "gelan-t", "ultralytics"])
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
    data = out / "data" / "data.yaml"
    if not data.is_file():
        from yolov9.data.synthetic import write_dataset

        photos = sorted((SHARED / "coco128_train2017" / "images").glob("*.jpg"))
        if not photos:
            sys.exit(f"no photos under {SHARED}: this benchmark needs ../shared/data")
        write_dataset(
            out / "data",
            splits={"train": 320, "val": 80},
            size=(args.imgsz, args.imgsz),
            seed=args.seed,
            photos=photos,
        )
    rows = {}
    for name in args.only:
        if name == "ultralytics":
            if not args.ultralytics_python:
                print("skipping ultralytics: no --ultralytics-python")
                continue
            job = out / "ultralytics_job.py"
            job.write_text(ULTRALYTICS_JOB)
            subprocess.run(
                [
                    args.ultralytics_python,
                    str(job),
                    str(data),
                    str(out / "ultralytics"),
                    str(args.epochs),
                    str(args.imgsz),
                    str(args.batch),
                    str(out / "data" / "images" / "val"),
                ],
                check=True,
            )
            r = json.loads((out / "ultralytics" / "result.json").read_text())
            rows[name] = {
                **score(data, preds=r["preds"]),
                "train_s": r["train_s"],
                "own_map50_95": r["own_map50_95"],
                "own_map50": r["own_map50"],
            }
        else:
            r = ours(data, out, name, args)
            rows[name] = {**score(data, weights=r["best"]), **r}
        (out / "summary.json").write_text(json.dumps(rows, indent=1))
    print(f"# command: python {' '.join(sys.argv)}")
    print("| model | AP50-95 | AP50 | AP75 | train min |\n|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        minutes = r["train_s"] / 60
        print(f"| {name} | {r['AP']:.4f} | {r['AP50']:.4f} | {r['AP75']:.4f} | {minutes:.1f} |")
    for name, r in rows.items():
        if "curve" in r:
            print(f"{name} AP50-95 by epoch: {r['curve']}")
        if "own_map50_95" in r:
            print(f"{name} own val: mAP50-95 {r['own_map50_95']:.4f} mAP50 {r['own_map50']:.4f}")


if __name__ == "__main__":
    main()
