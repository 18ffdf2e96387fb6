"""Sliced inference for small objects, against SAHI's own slicing pipeline.

    python benchmarks/bench_sliced.py --weights W --sahi-python /tmp/trackbench/bin/python

Generates 20 images of 1920x1080 (random crops of the shared COCO photos as backgrounds) with
20-60 shapes of 8-24 px each, then scores the same model (one trained on 256 px crops of such
scenes) by the same COCO evaluator (faster-coco-eval, AP and AP_small) in these ways:
  * the whole image at --imgsz (objects shrink to a third at 640) and at 1920 (native);
  * ours: --tile (256 px, overlap 0.2, IoS 0.5) merged by NMS (our default) or greedy NMM
    (SAHI's default), with and without the whole image as one more tile;
  * SAHI 0.12's get_sliced_prediction with the same tiles, merges and batch, our model wrapped
    as a SAHI DetectionModel (our pre- and post-processing per tile), in its own environment
    (SAHI needs opencv-python, never our dependency).
Time per image is the median over the images (decode excluded for both). Same confidence
(--conf) for every run. Then (``--speed-rounds``) ours and SAHI are timed alternately on
each image in one process, SAHI at batch 8 and at its default batch 1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

# our model as a SAHI DetectionModel: our pre- and post-processing per tile (the globals
# ``tile`` and ``imgsz`` are the job's)
SAHI_MODEL = textwrap.dedent("""
    from sahi.models.base import DetectionModel
    from sahi.prediction import ObjectPrediction
    from sahi.utils.compatibility import fix_full_shape_list, fix_shift_amount_list
    from yolov9.api import Detector

    class Ours(DetectionModel):
        def load_model(self):  # tiles at their own size; the whole image at imgsz
            self.set_model(Detector.from_pretrained(self.model_path, imgsz=tile, device="cpu"))
            self.whole = Detector.from_pretrained(self.model_path, imgsz=imgsz, device="cpu")

        def set_model(self, model, **kw):
            self.model = model
            self.category_mapping = {str(i): n for i, n in enumerate(model.names)}

        def perform_inference(self, image):  # SAHI's standard (whole-image) prediction
            self._original_predictions = self.whole.predict(
                image, conf=self.confidence_threshold, iou=0.7, max_det=300, multi_label=True)

        def perform_batch_inference(self, images):  # one forward per batch, as ours does
            self._batch_images = None
            self._original_predictions = self.model.predict(
                list(images), batch_size=len(images), conf=self.confidence_threshold,
                iou=0.7, max_det=300, multi_label=True)

        def _create_object_prediction_list_from_original_predictions(
                self, shift_amount_list=[[0, 0]], full_shape_list=None):
            shift_amount_list = fix_shift_amount_list(shift_amount_list)
            full_shape_list = fix_full_shape_list(full_shape_list)
            per_image = []
            for k, r in enumerate(self._original_predictions):
                shift = shift_amount_list[k] if shift_amount_list else [0, 0]
                full = full_shape_list[k] if full_shape_list else None
                per_image.append([
                    ObjectPrediction(bbox=b.tolist(), category_id=int(c),
                                     category_name=self.model.names[int(c)], score=float(s),
                                     shift_amount=shift, full_shape=full)
                    for b, s, c in zip(r.boxes, r.scores, r.labels)])
            self._object_prediction_list_per_image = per_image
""")

SAHI_JOB = SAHI_MODEL + textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from sahi.predict import get_sliced_prediction
    from yolov9.data.images import read_image

    weights, images, tile, conf, whole, imgsz, merge, out = sys.argv[1:9]
    tile, conf, whole, imgsz = int(tile), float(conf), whole == "1", int(imgsz)
    model = Ours(model_path=weights, confidence_threshold=conf, device="cpu")
    preds, times = [], []
    for path in json.loads(images):
        image = read_image(path)
        t0 = time.perf_counter()
        result = get_sliced_prediction(
            image, model, slice_height=tile, slice_width=tile, overlap_height_ratio=0.2,
            overlap_width_ratio=0.2, perform_standard_pred=whole, postprocess_type=merge,
            postprocess_match_metric="IOS", postprocess_match_threshold=0.5, verbose=0,
            batch_size=8, force_postprocess_type=True)  # SAHI's defaults, even at a low conf
        times.append(time.perf_counter() - t0)
        for p in result.object_prediction_list:
            b = p.bbox
            preds.append({"file": Path(path).name, "cls": p.category.id, "score": p.score.value,
                          "box": [b.minx, b.miny, b.maxx, b.maxy]})
    json.dump({"preds": preds, "times": times}, open(out, "w"))
""")

SPEED_JOB = SAHI_MODEL + textwrap.dedent("""
    # ours and SAHI in one process (SAHI's environment, our package installed there too),
    # alternating on each image, so that both see the same machine state
    import json, sys, time
    from sahi.predict import get_sliced_prediction
    from yolov9.data.images import read_image
    from yolov9.inference import load_backend
    from yolov9.inference.tiles import TiledDetector, TileOptions

    weights, images, tile, conf, imgsz, rounds, out = sys.argv[1:8]
    tile, conf, imgsz, rounds = int(tile), float(conf), int(imgsz), int(rounds)
    nms = dict(conf=conf, iou=0.7, max_det=300, multi_label=True)
    backend = load_backend(weights, imgsz=imgsz, device="cpu")
    model = Ours(model_path=weights, confidence_threshold=conf, device="cpu")
    runs = {}
    for merge, sahi_merge, batch in (("nms", "NMS", 8), ("nmm", "GREEDYNMM", 8),
                                     ("nmm", "GREEDYNMM", 1)):
        tiler = TiledDetector(backend, TileOptions(tile, overlap=0.2, merge=merge), imgsz=imgsz)
        ours, theirs = [], []
        for path in json.loads(images):
            image = read_image(path)
            tiler(image, nms)  # warm
            for _ in range(rounds):
                t0 = time.perf_counter()
                tiler(image, nms)
                ours.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                get_sliced_prediction(
                    image, model, slice_height=tile, slice_width=tile, overlap_height_ratio=0.2,
                    overlap_width_ratio=0.2, perform_standard_pred=False,
                    postprocess_type=sahi_merge, postprocess_match_metric="IOS",
                    postprocess_match_threshold=0.5, verbose=0, batch_size=batch,
                    force_postprocess_type=True)
                theirs.append(time.perf_counter() - t0)
        runs[f"{merge}, SAHI batch {batch}"] = {"ours": ours, "sahi": theirs}
    json.dump(runs, open(out, "w"))
""")


def dataset(out: Path, seed: int) -> Path:
    data = out / "data" / "data.yaml"
    if not data.is_file():
        from yolov9.data.synthetic import write_dataset

        photos = sorted((SHARED / "coco128_train2017" / "images").glob("*.jpg"))
        if not photos:
            sys.exit(f"no photos under {SHARED}: this benchmark needs ../shared/data")
        write_dataset(
            out / "data",
            splits={"train": 1, "val": 20},
            size=(1080, 1920),
            seed=seed,
            photos=photos,
            max_objects=60,
            radius=(4.0, 12.0),
        )
    return data


def ours(
    weights: str,
    data: Path,
    imgsz: int,
    conf: float,
    tile: int | None,
    whole: bool,
    merge: str = "nms",
) -> dict:
    """Our evaluator on the split, timing each image's inference (tiles included)."""
    from yolov9.data.dataset import load_dataset
    from yolov9.data.images import read_image
    from yolov9.engine.evaluator import score_predictions
    from yolov9.inference import load_backend
    from yolov9.inference.predictor import Predictor
    from yolov9.inference.tiles import TileOptions
    from yolov9.metrics.coco import to_coco_results

    ds = load_dataset(str(data), "val")
    predictor = Predictor(load_backend(weights, imgsz=imgsz, device="cpu"), imgsz=imgsz)
    options = TileOptions(tile, overlap=0.2, whole=whole, merge=merge) if tile else None
    results, times = [], []
    for record in ds.records:
        image = read_image(record.path)
        from yolov9.data.sources import Frame

        start = time.perf_counter()
        (r,) = predictor(
            [Frame(image)], conf=conf, iou=0.7, max_det=300, multi_label=True, tile=options
        )
        times.append(time.perf_counter() - start)
        results += to_coco_results(record.image_id, r.boxes, r.scores, r.labels, ds.category_ids)
    metrics, _ = score_predictions(ds, results)
    assert metrics is not None
    return {"AP": metrics.AP, "AP50": metrics.AP50, "APs": metrics.APs, "times": times}


def sahi(args: argparse.Namespace, data: Path, whole: bool, merge: str) -> dict:
    import numpy as np

    from yolov9.data.dataset import load_dataset
    from yolov9.engine.evaluator import score_predictions
    from yolov9.metrics.coco import to_coco_results

    ds = load_dataset(str(data), "val")
    out = Path(args.out) / f"sahi_{int(whole)}_{merge}.json"
    images = json.dumps([str(r.path) for r in ds.records])
    subprocess.run(
        [
            args.sahi_python,
            "-c",
            SAHI_JOB,
            args.weights,
            images,
            str(args.tile),
            str(args.conf),
            "1" if whole else "0",
            str(args.imgsz),
            merge,
            str(out),
        ],
        check=True,
    )
    got = json.loads(out.read_text())
    ids = {Path(r.path).name: r.image_id for r in ds.records}
    results = []
    for p in got["preds"]:
        results += to_coco_results(
            ids[p["file"]],
            np.array([p["box"]]),
            np.array([p["score"]]),
            np.array([p["cls"]]),
            ds.category_ids,
        )
    metrics, _ = score_predictions(ds, results)
    assert metrics is not None
    return {"AP": metrics.AP, "AP50": metrics.AP50, "APs": metrics.APs, "times": got["times"]}


def speed(args: argparse.Namespace, data: Path) -> None:
    """Ours against SAHI on the same tiles, alternating per image in one process."""
    from yolov9.data.dataset import load_dataset

    ds = load_dataset(str(data), "val")
    out = Path(args.out) / "speed.json"
    images = json.dumps([str(r.path) for r in ds.records])
    job = [args.sahi_python, "-c", SPEED_JOB, args.weights, images, str(args.tile)]
    job += [str(args.conf), str(args.imgsz), str(args.speed_rounds), str(out)]
    subprocess.run(job, check=True)
    runs = json.loads(out.read_text())
    print(f"\nalternating, one process, {args.speed_rounds} runs per image, medians:")
    print("| merge | ours ms/image (tile batch auto) | SAHI ms/image | SAHI / ours |")
    print("|---|---:|---:|---:|")
    for merge, r in runs.items():
        a, b = 1000 * statistics.median(r["ours"]), 1000 * statistics.median(r["sahi"])
        print(f"| {merge} | {a:.0f} | {b:.0f} | {b / a:.2f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--sahi-python", help="python of an environment with sahi and yolov9")
    ap.add_argument("--out", default="runs/bench/sliced")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--imgsz", type=int, default=640, help="whole-image size (and --tile-whole's)")
    ap.add_argument("--conf", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument(
        "--speed-rounds",
        type=int,
        default=3,
        help="then time ours and SAHI alternately in one process, N times per image (0: skip)",
    )
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    data = dataset(Path(args.out), args.seed)
    w, t, c = args.weights, args.tile, args.conf
    rows = {
        f"whole image at {args.imgsz}": ours(w, data, args.imgsz, c, None, False),
        "whole image at 1920": ours(w, data, 1920, c, None, False),
        f"ours: tiles {t}, NMS (default)": ours(w, data, args.imgsz, c, t, False),
        f"ours: tiles {t}, NMM": ours(w, data, args.imgsz, c, t, False, "nmm"),
        f"ours: tiles {t} + whole, NMS": ours(w, data, args.imgsz, c, t, True),
    }
    if args.sahi_python:
        rows[f"SAHI: tiles {t}, GREEDYNMM (default)"] = sahi(args, data, False, "GREEDYNMM")
        rows[f"SAHI: tiles {t}, NMS"] = sahi(args, data, False, "NMS")
        rows[f"SAHI: tiles {t} + whole, NMS"] = sahi(args, data, True, "NMS")
    print("\n| run | AP | AP50 | AP_small | ms/image (median) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        ms = 1000 * statistics.median(r["times"])
        print(f"| {name} | {r['AP']:.4f} | {r['AP50']:.4f} | {r['APs']:.4f} | {ms:.0f} |")
    Path(args.out, "results.json").write_text(json.dumps(rows, indent=1))
    if args.sahi_python and args.speed_rounds:
        speed(args, data)
    print(f"\ncommand: python benchmarks/bench_sliced.py {' '.join(sys.argv[1:])}")


if __name__ == "__main__":
    main()
