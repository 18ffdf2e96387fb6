"""Learning check on real images: YOLOv9-T from scratch on coco128, train = val.

    python benchmarks/bench_learning.py                 # 320 px, batch 16, 100 epochs, paper recipe
    python benchmarks/bench_learning.py --epochs 10 --recipe-set optim.lr0=0.02

Needs ../shared/data/coco128_train2017 (128 COCO train2017 images with YOLO labels). Prints
AP50 and AP50-95 of the EMA model after every epoch; results.csv and plots are in the run
folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import yaml

from yolov9.config import resolve
from yolov9.data.coco80 import COCO80_NAMES
from yolov9.engine.training import train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco128_train2017"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-root", default=str(SHARED))
    ap.add_argument("--model", default="yolov9-t")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--workers", type=int, default=-1, help="-1: auto (0 on <= 2 cores)")
    ap.add_argument("--out", default="runs/bench/coco128")
    ap.add_argument(
        "--recipe-set",
        nargs="*",
        default=["recipe=paper"],
        help="config overrides (KEY=VALUE); default: the paper's recipe",
    )
    args = ap.parse_args()
    root = Path(args.data_root)
    if not (root / "images").is_dir():
        sys.exit(f"{root} not found: this benchmark needs the shared coco128 images")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    desc = {"path": str(root), "train": "images", "val": "images", "names": COCO80_NAMES}
    (out / "coco128.yaml").write_text(yaml.safe_dump(desc))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = resolve(None, args.recipe_set, **{
        "model.name": args.model, "data.data": str(out / "coco128.yaml"), "data.imgsz": args.imgsz,
        "data.batch": args.batch, "data.workers": args.workers, "epochs": args.epochs,
        "out": str(out / "run"), "exist_ok": True,
    })  # fmt: skip
    result = train(cfg)
    print(f"# command: python {' '.join(sys.argv)}")
    print("| epoch | AP50 | AP50-95 | train loss (box+cls+dfl) | s |\n|---:|---:|---:|---:|---:|")
    for r in result.history:
        loss = r.get("train/box", 0) + r.get("train/cls", 0) + r.get("train/dfl", 0)
        print(f"| {int(r['epoch']) + 1} | {r.get('AP50', float('nan')):.4f} | "
              f"{r.get('AP', float('nan')):.4f} | {loss:.3f} | {r['time']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
