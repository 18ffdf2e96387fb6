"""What a panoptic export should carry: the semantic logits, or their argmax at stride 4?

    python benchmarks/bench_pan_export.py                               # gelan-c-pan, 640
    python benchmarks/bench_pan_export.py --weights best-converted.pt --imgsz 160 \\
        --world 20                                                      # a trained model

Two ONNX graphs of the same model, exported the same way (``torch.onnx.export`` with dynamo,
onnxslim), differing only in the last output: ``logits`` (B, K, H/4, W/4) float32, what our
exports carry, or ``argmax`` (B, H/4, W/4) uint8, the class per stride-4 cell. Measured with
onnxruntime on one letterboxed image, batch 1, medians of ``--runs`` interleaved runs:

* the session's run time (network and the output's copy out);
* the bytes of the semantic output;
* the time from that output to the image's semantic map: ``semantic_map`` (the authors'
  bilinear resize of the logits, then argmax) against a nearest-neighbour resize of the
  stride-4 classes;
* how many image pixels the two maps agree on (with ``--world N``: over N generated scenes
  of the panoptic demo's world, which a model trained on it knows; otherwise one photograph
  and random weights, where the answer means little).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from bench_panoptic import image_640x480  # a script beside this one

from yolov9.checkpoints import load_weights
from yolov9.data.images import LetterboxInfo, letterbox
from yolov9.data.synthetic_world import make_world_scene
from yolov9.deploy.graph import ExportGraph
from yolov9.models import YOLOv9, build_model
from yolov9.tasks.panoptic import semantic_map
from yolov9.tasks.segment.masks import letterbox_region


class ArgmaxGraph(ExportGraph):
    """The export graph with the semantic logits replaced by their argmax (uint8)."""

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        *rest, semantic = super().forward(images)
        return (*rest, semantic.argmax(1).to(torch.uint8))


def to_onnx(graph: ExportGraph, imgsz: int) -> bytes:
    import onnxslim

    program = torch.onnx.export(
        graph,
        (torch.rand(1, 3, imgsz, imgsz),),
        None,
        input_names=["images"],
        output_names=list(graph.output_names),
        opset_version=18,
        dynamo=True,
    )
    proto = onnxslim.slim(program.model_proto)
    buffer = io.BytesIO()
    import onnx

    onnx.save(proto, buffer)
    return buffer.getvalue()


def nearest_map(
    classes: np.ndarray, input_shape: tuple[int, int], info: LetterboxInfo
) -> np.ndarray:
    """Stride-4 classes -> the image's pixels: the letterboxed region, nearest neighbour."""
    stride = input_shape[0] / classes.shape[0]
    top, left, bottom, right = (v / stride for v in letterbox_region(info))
    region = classes[round(top) : round(bottom), round(left) : round(right)]
    h0, w0 = info.original_shape
    return cv2.resize(region, (w0, h0), interpolation=cv2.INTER_NEAREST)


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a panoptic checkpoint (default: gelan-c-pan, random)")
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--world", type=int, default=0, help="score agreement on N scenes")
    args = parser.parse_args()
    import onnxruntime as ort

    if args.weights:
        model: YOLOv9 = load_weights(args.weights).model
        source = args.weights
    else:
        torch.manual_seed(0)
        model, source = build_model("gelan-c-pan"), "gelan-c-pan (random weights)"
    model = model.eval()
    sessions = {}
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, graph in (("logits", ExportGraph(model)), ("argmax", ArgmaxGraph(model))):
            data = to_onnx(graph, args.imgsz)
            sizes[name] = len(data)
            path = Path(tmp) / f"{name}.onnx"
            path.write_bytes(data)
            sessions[name] = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    if args.world:
        images = [make_world_scene(rng, (args.imgsz, args.imgsz))[0] for _ in range(args.world)]
    else:
        images = [cv2.resize(image_640x480(), (args.imgsz, args.imgsz * 3 // 4))]
    run_ms: dict[str, list[float]] = {"logits": [], "argmax": []}
    post_ms: dict[str, list[float]] = {"logits": [], "argmax": []}
    agree, pixels, out_bytes = 0, 0, {}
    shape = (args.imgsz, args.imgsz)
    for image in images:
        boxed, info = letterbox(image, args.imgsz, auto=False)
        x = boxed.transpose(2, 0, 1)[None].astype(np.float32) / 255
        outputs = {}
        for _ in range(max(args.runs // len(images), 3)):
            for name, session in sessions.items():  # interleaved
                t0 = time.perf_counter()
                outputs[name] = session.run(None, {"images": x})[-1][0]
                run_ms[name].append((time.perf_counter() - t0) * 1000)
        out_bytes = {k: v.nbytes for k, v in outputs.items()}

        logits = torch.from_numpy(outputs["logits"])
        classes = outputs["argmax"]
        exact = semantic_map(logits, shape, info)
        coarse = nearest_map(classes, shape, info)
        post_ms["logits"].append(median_ms(lambda x=logits, i=info: semantic_map(x, shape, i), 5))
        post_ms["argmax"].append(median_ms(lambda c=classes, i=info: nearest_map(c, shape, i), 5))
        agree += int((exact == coarse).sum())
        pixels += exact.size
    print(" ".join(["python", *sys.argv]))
    print(f"model: {source}, input {args.imgsz}x{args.imgsz}, {len(images)} image(s)\n")
    print("| semantic output | ONNX MB | output KiB | session run ms | to the image's map ms |")
    print("|---|---:|---:|---:|---:|")
    for name in ("logits", "argmax"):
        print(
            f"| {name} | {sizes[name] / 2**20:.1f} | {out_bytes[name] / 1024:.0f} | "
            f"{np.median(run_ms[name]):.1f} | {np.median(post_ms[name]):.2f} |"
        )
    print(f"\nimage pixels where the two maps agree: {100 * agree / pixels:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
