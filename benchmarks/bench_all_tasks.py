"""One network for every task against the four single-task networks, side by side, on the
generated world with captions, from scratch, with and without PGI.

    python benchmarks/bench_all_tasks.py                             # the full benchmark
    python benchmarks/bench_all_tasks.py --epochs 1 --train 16 --val 8 --seeds 0 \\
        --out /tmp/all_smoke                                          # a smoke run
    python benchmarks/bench_all_tasks.py --models yolov9-t-all+one-step \\
        yolov9-t-all+language-step                                    # the two schedules

Data: ``--train`` + ``--val`` generated scenes (default 200 + 40, 160 px) of things (disc,
box, triangle, exact polygons) over textured stuff (sky, grass, sand, water, wall), five
captions each, written by ``yolov9.data.synthetic_world.write_world(captions=True)`` (seed 0,
one dataset for every run, kept under ``--out``). Every network trains on the same images
with the labels of its task: the detector and the instance model on the things' polygons
(YOLO format), the panoptic model on COCO panoptic, the caption model on the captions (and
the things' boxes), the all-task network on panoptic labels and captions (``all.yaml``).

Each model trains for ``--epochs`` (30) at 160 px, batch 16, with the library's defaults (the
automatic recipe) and each ``--seeds`` seed, validating every 5 epochs (best epoch by its
task's figure); its best checkpoint, converted (no auxiliary branch), is scored by ``yolov9
val`` on the validation split with the labels the model has: box AP, mask AP, PQ, mIoU, stuff
mIoU, BLEU-4, CIDEr-D (the all-task network: all of them). ``MODEL+ARM`` trains the model
with an arm's config values (``ARMS``). Reported: each run, the mean over seeds, and the
median seconds per training epoch. Runs already in ``--out``'s summary are kept, so an
interrupted benchmark goes on where it stopped. Run it alone: the timing of 2 threads on 2
cores suffers from any other busy process.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import yaml
from side_by_side import add_run_arguments, print_table, run_all, train_and_val, with_arm

MODELS = tuple(
    f"{family}-t{suffix}"
    for family in ("yolov9", "gelan")
    for suffix in ("-all", "", "-seg" if family == "yolov9" else "-dseg", "-pan", "-cap")
)
ARMS: dict[str, list[str]] = {
    "language-step": ["optim.language_step=on"],  # the authors' schedule
    "one-step": ["optim.language_step=off"],  # every term in one step on plain images
}
KEYS = ("AP", "mask/AP", "PQ", "mIoU", "stuff_mIoU", "BLEU-4", "CIDEr-D")


def datasets(root: Path, train: int, val: int) -> dict[str, Path]:
    """The generated world (once) and the data YAML of each task's labels."""
    from yolov9.data.synthetic_world import THINGS, write_world

    marker = root / "all.yaml"
    yamls = {
        "all": marker,
        "panoptic": root / "coco-panoptic.yaml",
        "instances": root / "instances.yaml",
    }
    if not marker.is_file():
        write_world(root, {"train": train, "val": val}, (160, 160), seed=0, captions=True)
        desc = {"path": str(root), "train": "images/train", "val": "images/val"}
        yamls["instances"].write_text(yaml.safe_dump({**desc, "names": list(THINGS)}))
    return yamls


def data_for(model: str, yamls: dict[str, Path]) -> Path:
    """The labels of the model's task: captions (with panoptic labels) for caption and
    all-task models, COCO panoptic for panoptic ones, the things' polygons otherwise."""
    from yolov9.models import parse_model_name

    task = parse_model_name(model).task
    if task in ("all", "caption"):
        return yamls["all"]
    return yamls["panoptic"] if task == "panoptic" else yamls["instances"]


def scores(report: Any) -> dict[str, float]:
    """The figures a val report holds (0 where the model has no such output)."""
    out = dict.fromkeys(KEYS, float("nan"))
    if report.panoptic is not None:
        out.update({k: v for k, v in report.panoptic.figures().items() if k in KEYS})
        semantic = report.panoptic.semantic or {}
        out["stuff_mIoU"] = float(semantic.get("stuff_mIoU", float("nan")))
    elif report.metrics is not None:
        out["AP"] = report.metrics.AP
        if report.mask_metrics is not None:
            out["mask/AP"] = report.mask_metrics.AP
    if report.captions is not None:
        caption = report.captions.as_dict()
        out.update({"BLEU-4": caption["BLEU-4"], "CIDEr-D": caption["CIDEr-D"]})
    return out


def run_one(
    name: str, yamls: dict[str, Path], out: Path, seed: int, epochs: int
) -> dict[str, float]:
    model, overrides = with_arm(name, ARMS)
    report, timing = train_and_val(
        model, data_for(model, yamls), out, seed=seed, epochs=epochs, overrides=overrides
    )
    return {**scores(report), **timing}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser, train=200, val=40, models=MODELS, out="/work/benchruns/all_tasks")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    yamls = datasets(args.out / f"data_{args.train}_{args.val}", args.train, args.val)
    tag = f"e{args.epochs}"
    runs = run_all(
        args.out,
        args.models,
        args.seeds,
        tag,
        lambda model, seed, out: run_one(model, yamls, out, seed, args.epochs),
    )
    columns = {k: k for k in KEYS}
    extra = {"best_epoch": "best epoch", "epoch_s": "epoch s"}
    print_table(runs, args.models, args.seeds, tag, columns, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
