"""Latency of panoptic inference on the CPU, by stage: the network, the instance masks, the
semantic map, the fusion, and writing the outputs.

    python benchmarks/bench_panoptic.py                        # gelan-c-pan and gelan-t-pan
    python benchmarks/bench_panoptic.py --weights gelan-c-pan.pt --precisions fp32 bf16

One 640x480 photograph (``../shared/data/images/bus.jpg`` when present, else a generated
scene), letterboxed to 640. Stages, each the median of ``--runs`` runs:

* ``forward``: letterbox + fused network + decoding (``backend.infer``) at the precision;
* ``nms``: NMS with the prediction defaults (conf 0.25, IoU 0.45);
* ``masks``: the detections' masks in image pixels (the reference's masks);
* ``semantic``: the semantic map (resize of the logits to the image, argmax);
* ``fusion``: the panoptic segmentation from masks and semantic map;
* ``write``: the COCO panoptic PNG and the semantic PNG (cv2, default compression).

Random weights give arbitrary detections; the class-branch bias is set so that ``--detections``
(default 20) anchors pass 0.25, so the instance stages do a typical image's work. With a real
checkpoint (``--weights``) its own detections are used.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from bench_seg import median_ms  # a script beside this one (run from benchmarks/ or by path)

from yolov9.checkpoints import load_weights
from yolov9.data.images import letterbox, read_image
from yolov9.data.synthetic import make_photo
from yolov9.inference.backends import TorchBackend, nms_with_masks
from yolov9.models import build_model
from yolov9.tasks.panoptic import PanopticLabels, fuse, semantic_map
from yolov9.tasks.segment.masks import masks_for_image
from yolov9.utils.perf import tune_cpu_allocator

SHARED_IMAGE = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "bus.jpg"


def image_640x480() -> np.ndarray:
    if SHARED_IMAGE.is_file():
        image = read_image(SHARED_IMAGE)
        return cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA)
    return make_photo(np.random.default_rng(0), (480, 640))


def backend_for(name: str, precision: str, detections: int) -> TorchBackend:
    if Path(name).is_file():
        loaded = load_weights(name)
        return TorchBackend(
            loaded.model, loaded.names, precision=precision, stuff_names=loaded.stuff_names
        )
    torch.manual_seed(0)
    model = build_model(name).eval()
    names = [f"class{i}" for i in range(model.num_classes)]
    backend = TorchBackend(model, names, precision=precision)
    # a bias per anchor level so that about `detections` anchors score above 0.25
    x = torch.zeros(1, 3, 640, 640)
    with torch.no_grad():
        scores = backend.model.head.decode(backend.model(x).main)[1].max(-1).values[0]
        threshold = torch.logit(torch.tensor(0.25))
        kth = torch.logit(scores.topk(detections).values[-1].double()).float()
        for branch in backend.model.head.cls:
            branch[-1].bias += threshold - kth + 1e-3
    return backend


def bench(name: str, precision: str, args: argparse.Namespace) -> dict[str, float]:
    backend = backend_for(name, precision, args.detections)
    image = image_640x480()
    boxed, info = letterbox(image, 640, auto=True)
    batch = torch.from_numpy(boxed).permute(2, 0, 1)[None].float() / 255
    shape = (int(batch.shape[2]), int(batch.shape[3]))
    decoded = backend.infer(batch)
    det = nms_with_masks(decoded, conf_threshold=0.25, iou_threshold=0.45)[0]
    assert det.coeffs is not None
    assert det.protos is not None
    assert det.semantic is not None
    masks = masks_for_image(det.protos, det.coeffs, det.boxes, shape, info)
    semantic = semantic_map(det.semantic, shape, info)
    labels = PanopticLabels.for_model(backend.names, backend.stuff_names)
    scores, classes = det.scores.numpy(), det.labels.numpy()
    pan = fuse(masks, scores, classes, semantic, labels)
    out = Path(tempfile.mkdtemp())

    def write() -> None:
        cv2.imwrite(str(out / "pan.png"), pan.rgb()[..., ::-1])
        cv2.imwrite(str(out / "sem.png"), semantic)

    def timed(fn: Callable[[], object]) -> float:
        return median_ms(fn, args.runs, warmup=2)

    return {
        "detections": float(len(det)),
        "forward": timed(lambda: backend.infer(batch)),
        "nms": timed(lambda: nms_with_masks(decoded, conf_threshold=0.25)),
        "masks": timed(lambda: masks_for_image(det.protos, det.coeffs, det.boxes, shape, info)),
        "semantic": timed(lambda: semantic_map(det.semantic, shape, info)),
        "fusion": timed(lambda: fuse(masks, scores, classes, semantic, labels)),
        "write": timed(write),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", nargs="+", default=["gelan-c-pan", "gelan-t-pan"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--detections", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tune_cpu_allocator()
    print("command: python " + " ".join(sys.argv), flush=True)
    print(f"torch {torch.__version__}, {args.threads} threads, medians of {args.runs} runs (ms)")
    stages = ("forward", "nms", "masks", "semantic", "fusion", "write")
    print(
        f"{'model':<28}{'prec':<6}{'dets':>5}"
        + "".join(f"{s:>10}" for s in stages)
        + f"{'total':>10}"
    )
    for name in args.weights:
        for precision in args.precisions:
            r = bench(name, precision, args)
            total = sum(r[s] for s in stages)
            print(
                f"{Path(name).name:<28}{precision:<6}{int(r['detections']):>5}"
                + "".join(f"{r[s]:>10.1f}" for s in stages)
                + f"{total:>10.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
