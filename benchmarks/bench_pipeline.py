"""Pipeline speed of two source trees, side by side: a training epoch, ``val``, ``predict`` and
an ONNX export, for a detection and a segmentation model.

    python benchmarks/bench_pipeline.py --trees /tmp/before/src src [--rounds 2]

For a refactor that must not change speed: ``/tmp/before`` is a checkout of the commit before
it (``git worktree add /tmp/before <commit>``). Every (tree, model) measurement runs in a fresh
process with ``PYTHONPATH=<tree>`` and ``YOLOV9_ADAPT_THREADS=0`` (2 threads throughout); the
trees take turns within every round, the first tree first in even rounds and second in odd
ones, so that load from other jobs and any drift within a round fall on both alike. Run it
alone on the machine, with an even number of rounds.

Each process, through the public API only (so that both trees run the same code here):
trains the model from scratch for 3 epochs on 64 generated images with polygon masks (224 px,
batch 8, validation at the end) and takes the median epoch time (the training loop only);
evaluates the converted best checkpoint on the 16 validation images (wall time of
``Detector.val``); predicts one validation image 25 times (median of the last 20 calls); and
exports it to ONNX at 224 px (wall time of ``yolov9.export``, the export's own check included).
Printed: per tree and model, the median over rounds of each figure, and after/before ratios.
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
from pathlib import Path

JOB = textwrap.dedent("""
    import json, statistics, sys, time
    from pathlib import Path
    import cv2
    import yolov9
    from yolov9 import Detector, train

    data, model, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    result = train(model=model, data=data, imgsz=224, batch=8, epochs=3, seed=0,
                   out=str(out / "train"), exist_ok=True, val_every=3)
    epoch_s = statistics.median(r["time"] for r in result.history)
    detector = Detector.from_pretrained(result.best_converted, device="cpu")
    start = time.perf_counter()
    detector.val(data, batch=8, device="cpu", out=str(out / "val"), exist_ok=True)
    val_s = time.perf_counter() - start
    image_path = sorted((Path(data).parent / "images" / "val").glob("*"))[0]
    image = cv2.cvtColor(cv2.imread(str(image_path)), cv2.COLOR_BGR2RGB)
    times = []
    for _ in range(25):
        start = time.perf_counter()
        detector.predict(image)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    yolov9.export(result.best_converted, out / "model.onnx", format="onnx", imgsz=224)
    export_s = time.perf_counter() - start
    print("FIGURES " + json.dumps({
        "epoch_s": epoch_s, "val_s": val_s,
        "predict_ms": 1000 * statistics.median(times[5:]), "export_s": export_s,
        "yolov9": yolov9.__file__,
    }))
""")

MODELS = ("yolov9-t", "yolov9-t-seg")
KEYS = ("epoch_s", "val_s", "predict_ms", "export_s")


def _run(tree: Path, data: Path, model: str, out: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "YOLOV9_ADAPT_THREADS": "0"}
    proc = subprocess.run(
        [sys.executable, "-c", JOB, str(data), model, str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("FIGURES ")]
    if proc.returncode or not lines:
        sys.exit(f"{tree} {model} failed:\n{proc.stderr[-3000:]}")
    figures = json.loads(lines[-1].removeprefix("FIGURES "))
    if not str(figures.pop("yolov9")).startswith(str(tree)):
        sys.exit(f"{tree}: the process imported another yolov9 (check PYTHONPATH)")
    return figures  # type: ignore[no-any-return]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--trees", nargs=2, required=True, help="before and after src folders")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", help="run folders (default: a temporary folder)")
    args = ap.parse_args()
    trees = [Path(t).resolve() for t in args.trees]
    print(f"command: python {' '.join(sys.argv)}")
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="yolov9-bench-pipeline-") as tmp:
        root = Path(args.out or tmp)
        sys.path.insert(0, str(trees[1]))
        from yolov9.data.synthetic import write_dataset

        data = write_dataset(
            root / "data", splits={"train": 64, "val": 16}, size=(224, 224), seed=0, masks=True
        )["yolo"]
        figures: dict[tuple[int, str], list[dict[str, float]]] = {}
        for r in range(args.rounds):
            for model in MODELS:
                order = [0, 1] if r % 2 == 0 else [1, 0]  # ABBA: no tree always runs first
                for i in order:
                    tree = trees[i]
                    got = _run(tree, data, model, root / f"r{r}-{model}-{i}")
                    figures.setdefault((i, model), []).append(got)
                    print(f"round {r + 1} {model} {tree}: {got}", flush=True)
        print(f"load average at the end: {os.getloadavg()}")
        print(f"\n| model | figure | {trees[0]} | {trees[1]} | after / before |")
        print("|---|---|---:|---:|---:|")
        for model in MODELS:
            for key in KEYS:
                a, b = (statistics.median(f[key] for f in figures[(i, model)]) for i in (0, 1))
                print(f"| {model} | {key} | {a:.3f} | {b:.3f} | {b / a:.3f} |")


if __name__ == "__main__":
    main()
