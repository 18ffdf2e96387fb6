"""The embedded demo on several seeds: time, AP of the converted model, and what its picture
shows (shapes found and correctly named at the scene's confidence, misnamed, missed, false).

    python benchmarks/bench_demo.py [--task detect|segment] [--seeds 0 1 2] [--out DIR]

Runs ``yolov9.demo.run_demo`` with the task's default settings once per seed, one after the
other (run it alone: the time is the point), and prints one line per seed and the medians.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
from pathlib import Path

from yolov9.demo import SETTINGS, run_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(SETTINGS), default="detect")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", help="run folders (default: a temporary folder)")
    parser.add_argument("--json", help="write the per-seed results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"command: python {' '.join(sys.argv)}")
    print(f"settings: {SETTINGS[args.task]}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="yolov9-bench-demo-") as tmp:
        root = Path(args.out or tmp)
        for seed in args.seeds:
            summary = run_demo(root / f"seed{seed}", seed=seed, task=args.task)
            scene = summary["scene"]
            mask = f" mask AP {summary['mask/AP']:.3f}" if "mask/AP" in summary else ""
            print(
                f"seed {seed}: {summary['minutes']:.2f} min, AP {summary['AP']:.3f} "
                f"AP50 {summary['AP50']:.3f}{mask}; scene: {len(scene['found'])}/"
                f"{scene['shapes']} found and named ({', '.join(scene['found'])}), "
                f"misnamed {scene['misnamed']}, missed {scene['missed']}, "
                f"false {scene['false']}",
                flush=True,
            )
            rows.append({"seed": seed, **summary})
    for key in ("minutes", "AP", "AP50", "mask/AP"):
        values = [r[key] for r in rows if key in r]
        if values:
            print(f"median {key}: {statistics.median(values):.3f} (min {min(values):.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
