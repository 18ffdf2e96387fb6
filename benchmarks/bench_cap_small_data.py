"""Small-data caption training, side by side: yolov9-t-cap (PGI) against gelan-t-cap (none).

    python benchmarks/bench_cap_small_data.py                        # the full benchmark
    python benchmarks/bench_cap_small_data.py --epochs 1 --train 16 --val 8 --seeds 0 \\
        --out /tmp/cap_smoke                                          # a smoke run

Data: ``--train`` + ``--val`` generated scenes (default 300 + 60, 160 x 120 px) of one to
three coloured shapes with five reference captions each (what and how many, colours, left
of / right of / above / below) and the shapes' boxes, written as a COCO captions split by
``yolov9.data.synthetic_captions.write_caption_dataset`` (seed 0, one dataset for every run,
kept under ``--out``).

Each model trains from scratch for ``--epochs`` (30) at 160 px, batch ``--batch`` (16), with
the library's defaults (the automatic recipe) and each ``--seeds`` seed, validating every 5
epochs (best epoch by CIDEr-D); its best checkpoint, converted (no auxiliary branch), is scored
by ``yolov9 val`` on the validation split (beam 5, 20 tokens): BLEU-1..4 and CIDEr-D.
Reported: each run, the mean over seeds, and the median seconds per training epoch (the loop
only). Run it alone: the timing of 2 threads on 2 cores suffers from any other busy process.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

MODELS = ("yolov9-t-cap", "gelan-t-cap")
KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D")


def run_one(
    model: str, data: Path, out: Path, seed: int, epochs: int, batch: int
) -> dict[str, float]:
    from yolov9.api import Detector, train

    start = time.perf_counter()
    result = train(
        model=model,
        data=str(data),
        imgsz=160,
        batch=batch,
        epochs=epochs,
        seed=seed,
        out=str(out),
        exist_ok=True,
        val_every=min(5, epochs),
    )
    weights = result.best_converted or result.best or result.last
    report = Detector.from_pretrained(weights, device="cpu").val(
        str(data), device="cpu", out=str(out / "val"), exist_ok=True
    )
    assert report.captions is not None
    scores = report.captions.as_dict()
    times = [r["time"] for r in result.history if "time" in r]
    return {
        **scores,
        "best_epoch": float(result.best_metrics.get("epoch", -1)) + 1,
        "epoch_s": statistics.median(times) if times else 0.0,
        "wall_min": (time.perf_counter() - start) / 60,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--val", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--out", type=Path, default=Path("/work/benchruns/cap_small"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from yolov9.data.synthetic_captions import write_caption_dataset

    root = args.out / f"data_{args.train}_{args.val}"
    data = root / "captions.yaml"
    if not data.is_file():
        write_caption_dataset(root, {"train": args.train, "val": args.val}, (120, 160), seed=0)
    summary_path = args.out / "summary.json"
    runs: dict[str, dict[str, float]] = (
        json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    )
    for seed in args.seeds:
        for model in args.models:
            key = f"{model}/seed{seed}/e{args.epochs}/b{args.batch}"
            if key in runs:
                continue
            runs[key] = run_one(model, data, args.out / key, seed, args.epochs, args.batch)
            print(key, json.dumps(runs[key]), flush=True)
            summary_path.write_text(json.dumps(runs, indent=1))
    print("\n" + " ".join(["python", *sys.argv]))
    print("\n| model | seed | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D | best epoch | epoch s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models:
        rows = [runs[f"{model}/seed{s}/e{args.epochs}/b{args.batch}"] for s in args.seeds]
        for seed, r in zip(args.seeds, rows, strict=True):
            cells = " | ".join(f"{r[k]:.4f}" for k in KEYS)
            print(f"| {model} | {seed} | {cells} | {r['best_epoch']:.0f} | {r['epoch_s']:.1f} |")
        means = " | ".join(f"**{statistics.mean(r[k] for r in rows):.4f}**" for k in KEYS)
        epoch_s = statistics.median(r["epoch_s"] for r in rows)
        print(f"| {model} | mean | {means} | | {epoch_s:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
