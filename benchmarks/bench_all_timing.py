"""One forward pass for every task against the single-task networks one after another, at
640 px on this CPU, fp32 and bf16, and where the all-task network's time goes.

    python benchmarks/bench_all_timing.py                 # gelan-c-all against four gelan-c-*
    python benchmarks/bench_all_timing.py --size t --repeats 5

The networks are the inference graphs (converted, fused), with random weights (80 things, 93
stuff channels: the COCO layout) and a caption vocabulary learnt from generated captions;
each runs through ``Detector.predict`` on one 640 x 640 generated scene: letterbox, forward,
NMS, and the task's post-processing (instance masks; semantic map and panoptic fusion;
caption decoding, beam 5, 20 tokens: a random decoder never ends a caption early, so every
caption takes all 20). The single-task networks are ``gelan-x`` (boxes), ``gelan-x-dseg``
(instance masks), ``gelan-x-dpan`` (semantic map, panoptic) and ``gelan-x-cap`` (caption):
what the four single-task models of the multi-task benchmark convert to, run one after
another on the same image. Reported: medians of ``--repeats`` runs, the ratio, and the
all-task network's time split by forward hooks into the trunk (backbone and neck), the
panoptic head, the caption encoder, caption decoding and the rest (letterbox, NMS, masks,
semantic map and fusion). Run it alone: 2-thread timings suffer from any other busy process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_caption_decode import median_ms


def checkpoints(size: str, folder: Path) -> dict[str, Path]:
    """Random inference graphs of every network, saved as checkpoints."""
    from yolov9.checkpoints import save_checkpoint
    from yolov9.data.synthetic_world import NAMES, make_world_scene
    from yolov9.data.synthetic_world_captions import world_captions
    from yolov9.models import CaptionSpec, build_model
    from yolov9.tasks.caption import CaptionTokenizer

    rng = np.random.default_rng(0)
    texts = []
    for _ in range(200):
        _, label, _, things = make_world_scene(rng, (96, 96))
        texts += world_captions(label, things, NAMES, rng)
    tokenizer = CaptionTokenizer.train(texts, vocab_size=1000)
    names = [f"class{i}" for i in range(80)]
    out = {}
    torch.manual_seed(0)
    for suffix in ("-all", "", "-dseg", "-dpan", "-cap"):
        name = f"gelan-{size}{suffix}"
        model = build_model(
            name,
            80,
            caption=CaptionSpec(vocab_size=len(tokenizer)),
            vocabulary=tokenizer.model_bytes,
        )
        out[name] = save_checkpoint(folder / f"{name}.pt", model, names)
    return out


class PartTimer:
    """Milliseconds spent in each named module's forward, summed per call of ``run``."""

    def __init__(self, parts: dict[str, torch.nn.Module]) -> None:
        self.ms: dict[str, float] = dict.fromkeys(parts, 0.0)
        self.started: dict[str, float] = {}
        for name, module in parts.items():
            module.register_forward_pre_hook(self._start(name))
            module.register_forward_hook(self._stop(name))

    def _start(self, name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            self.started[name] = time.perf_counter()

        return hook

    def _stop(self, name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            self.ms[name] += (time.perf_counter() - self.started[name]) * 1000

        return hook

    def reset(self) -> None:
        self.ms = dict.fromkeys(self.ms, 0.0)


def split_times(detector: Any, image: np.ndarray, repeats: int) -> None:
    """Print where one prediction of the all-task network spends its time."""
    backend = detector.backend
    model = backend.model
    timer = PartTimer(
        {
            "backbone": model.backbone,
            "neck": model.neck,
            "panoptic head": model.head,
            "caption encoder": model.caption,
        }
    )
    decode_ms: list[float] = []
    captions = backend.captions

    def timed_captions(memory: torch.Tensor) -> Any:
        start = time.perf_counter()
        out = captions(memory)
        decode_ms.append((time.perf_counter() - start) * 1000)
        return out

    backend.captions = timed_captions
    splits = []
    for _ in range(repeats):
        timer.reset()
        decode_ms.clear()
        start = time.perf_counter()
        result = detector.predict(image)[0]
        total = (time.perf_counter() - start) * 1000
        parts = dict(timer.ms)
        parts["caption decoding (beam 5)"] = sum(decode_ms)  # after the caption head's forward
        parts["letterbox, NMS, masks, semantic map, fusion"] = total - sum(parts.values())
        splits.append((total, parts))
    backend.captions = captions
    total = statistics.median(t for t, _ in splits)
    words = len((result.caption or "").split())
    print(f"\n{total:.0f} ms in all ({len(result.boxes)} detections, caption of {words} words)")
    print("| part | ms | share |\n|---|---:|---:|")
    for key in splits[0][1]:
        ms = statistics.median(p[key] for _, p in splits)
        print(f"| {key} | {ms:.1f} | {ms / total:.0%} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="c", choices=["t", "s", "m", "c", "e"])
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from yolov9.api import Detector
    from yolov9.data.synthetic_world import make_world_scene

    image, _, _, _ = make_world_scene(np.random.default_rng(1), (args.imgsz, args.imgsz))
    every = f"gelan-{args.size}-all"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = checkpoints(args.size, Path(tmp))
        for precision in ("fp32", "bf16"):
            detectors = {
                name: Detector.from_pretrained(
                    path, imgsz=args.imgsz, device="cpu", precision=precision
                )
                for name, path in paths.items()
            }
            single = [detectors[n] for n in detectors if n != every]
            all_ms = median_ms(lambda d=detectors[every]: d.predict(image), args.repeats)
            singles_ms = median_ms(lambda s=single: [d.predict(image) for d in s], args.repeats)
            each = {
                n: median_ms(lambda d=d: d.predict(image), args.repeats)
                for n, d in detectors.items()
                if n != every
            }
            rows.append((precision, all_ms, singles_ms, each))
            print(f"\n{every}, {precision}: where the time goes")
            split_times(detectors[every], image, args.repeats)

    print(f"\n| precision | {every} ms | the four one after another ms | ratio | each ms |")
    print("|---|---:|---:|---:|---|")
    for precision, all_ms, singles_ms, each in rows:
        detail = ", ".join(f"{n} {ms:.0f}" for n, ms in each.items())
        print(
            f"| {precision} | {all_ms:.0f} | {singles_ms:.0f} | {singles_ms / all_ms:.2f} | "
            f"{detail} |"
        )
    print(f"\n{args.imgsz} px, {torch.get_num_threads()} threads, medians of {args.repeats}")
    print(" ".join(["python", *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
