"""Small-data panoptic training, side by side: yolov9-t-pan (PGI) against gelan-t-pan (none).

    python benchmarks/bench_pan_small_data.py                        # the full benchmark
    python benchmarks/bench_pan_small_data.py --epochs 1 --train 16 --val 8 --seeds 0 \\
        --out /tmp/pan_smoke                                          # a smoke run

Data: ``--train`` + ``--val`` generated scenes (default 300 + 60, 160 px) of things (disc,
box, triangle, with exact polygons) over textured stuff (sky, grass, sand, water, wall),
written in COCO panoptic format by ``yolov9.data.synthetic_world.write_world`` (seed 0, one
dataset for every run, kept under ``--out``).

Each model trains from scratch for ``--epochs`` (30) at 160 px, batch 16, with the library's
defaults (the automatic recipe) and each ``--seeds`` seed, validating every 5 epochs (best
epoch by PQ); its best checkpoint, converted (no auxiliary branch), is scored by ``yolov9 val``
on the validation split: PQ (all, things, stuff), mIoU, box and mask AP50-95. Reported: each
run, the mean over seeds, and the median seconds per training epoch (the loop only).
Run it alone: the timing of 2 threads on 2 cores suffers from any other busy process.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from side_by_side import add_run_arguments, print_table, run_all, train_and_val

MODELS = ("yolov9-t-pan", "gelan-t-pan")
KEYS = ("PQ", "PQ_th", "PQ_st", "mIoU", "AP", "mask/AP")


def run_one(model: str, data: Path, out: Path, seed: int, epochs: int) -> dict[str, float]:
    report, timing = train_and_val(model, data, out, seed=seed, epochs=epochs)
    pan = report.panoptic
    assert pan is not None
    assert pan.panoptic is not None
    assert pan.semantic is not None
    figures = pan.figures()
    return {**{k: figures.get(k, 0.0) for k in KEYS}, **timing}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser, train=300, val=60, models=MODELS, out="/work/benchruns/pan_small")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from yolov9.data.synthetic_world import write_world

    root = args.out / f"data_{args.train}_{args.val}"
    data = root / "coco-panoptic.yaml"
    if not data.is_file():
        write_world(root, {"train": args.train, "val": args.val}, (160, 160), seed=0)
    tag = f"e{args.epochs}"
    runs = run_all(
        args.out,
        args.models,
        args.seeds,
        tag,
        lambda model, seed, out: run_one(model, data, out, seed, args.epochs),
    )
    headers = ("PQ", "PQ things", "PQ stuff", "mIoU", "box AP", "mask AP")
    columns = dict(zip(KEYS, headers, strict=True))
    print_table(runs, args.models, args.seeds, tag, columns, {"epoch_s": "epoch s"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
