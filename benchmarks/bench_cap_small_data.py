"""Small-data caption training, side by side: yolov9-t-cap (PGI) against gelan-t-cap (none),
and training choices as arms of a model (``MODEL+ARM``, ``ARMS`` below).

    python benchmarks/bench_cap_small_data.py                        # the full benchmark
    python benchmarks/bench_cap_small_data.py --models yolov9-t-cap \\
        yolov9-t-cap+language-step yolov9-t-cap+no-attention-dropout  # the choices
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
by ``yolov9 val`` on the validation split (beam 5, 20 tokens): BLEU-1..4 and CIDEr-D. An arm
trains the model with its config values (``ARMS``); runs already in ``--out``'s summary are
kept, so arms added later sit beside the runs before them. Reported: each run, the mean over
seeds, and the median seconds per training epoch (the loop only). Run it alone: the timing of
2 threads on 2 cores suffers from any other busy process.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from side_by_side import add_run_arguments, print_table, run_all, train_and_val, with_arm

MODELS = ("yolov9-t-cap", "gelan-t-cap")
# the training choices measured: config values a run adds to the library's defaults
ARMS: dict[str, list[str]] = {
    # the authors' schedule: vision step on mosaics, language step with its own optimiser
    "language-step": ["optim.language_step=on"],
    "one-step": ["optim.language_step=off"],
    "no-attention-dropout": ["model.caption_attention_dropout=0"],
}
KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D")


def run_one(
    name: str, data: Path, out: Path, seed: int, epochs: int, batch: int
) -> dict[str, float]:
    model, overrides = with_arm(name, ARMS)
    report, timing = train_and_val(
        model, data, out, seed=seed, epochs=epochs, batch=batch, overrides=overrides
    )
    assert report.captions is not None
    return {**report.captions.as_dict(), **timing}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser, train=300, val=60, models=MODELS, out="/work/benchruns/cap_small")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from yolov9.data.synthetic_captions import write_caption_dataset

    root = args.out / f"data_{args.train}_{args.val}"
    data = root / "captions.yaml"
    if not data.is_file():
        write_caption_dataset(root, {"train": args.train, "val": args.val}, (120, 160), seed=0)
    tag = f"e{args.epochs}/b{args.batch}"
    runs = run_all(
        args.out,
        args.models,
        args.seeds,
        tag,
        lambda model, seed, out: run_one(model, data, out, seed, args.epochs, args.batch),
    )
    columns = {k: k for k in KEYS}
    extra = {"best_epoch": "best epoch", "epoch_s": "epoch s"}
    print_table(runs, args.models, args.seeds, tag, columns, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
