"""Caption decoding speed on this CPU: ms per caption, greedy and beam 5, with the cached
decoder step against recomputing the whole prefix every token.

    python benchmarks/bench_caption_decode.py                     # a random yolov9-t-cap
    python benchmarks/bench_caption_decode.py --weights runs/demo/train/weights/best-converted.pt

The network is converted (no auxiliary branch) and fused, in fp32 with 2 threads. Without
``--weights`` it is ``gelan-t-cap`` with random weights and a vocabulary of ``--vocab`` ids;
a random decoder rarely ends a caption, so every caption runs the whole ``--max-tokens``
(the worst case). Reported per batch size: the image forward pass (backbone, neck, detection
head, caption encoder), then greedy and beam-5 decoding with and without the cache, medians
of ``--repeats`` runs, and the tokens each caption took. Run it alone: the timing of 2
threads on 2 cores suffers from any other busy process.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def greedy_without_cache(head: torch.nn.Module, memory: torch.Tensor, steps: int) -> None:
    """Greedy decoding that runs the decoder over the whole prefix for every new token."""
    from yolov9.models.caption import BOS

    tokens = torch.full((memory.shape[0], 1), BOS, dtype=torch.long)
    for _ in range(steps):
        dummy = torch.cat([tokens, tokens[:, -1:]], 1)  # teacher_forced reads all but the last
        logits = head.teacher_forced(memory, dummy)[:, -1]
        tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--vocab", type=int, default=1000)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--max-tokens", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from yolov9.checkpoints import load_weights
    from yolov9.models import CaptionSpec, build_model
    from yolov9.models.caption_search import Decoding, decode

    if args.weights:
        model = load_weights(args.weights).model
        name = args.weights
    else:
        torch.manual_seed(0)
        model = build_model("gelan-t-cap", 80, caption=CaptionSpec(vocab_size=args.vocab))
        name = f"gelan-t-cap (random, vocabulary {args.vocab})"
    model = model.drop_aux().eval().fuse()
    head = model.caption
    assert head is not None
    print(f"{name}, {args.imgsz} px, fp32, {torch.get_num_threads()} threads")
    print(
        "\n| batch | forward ms | greedy ms | greedy no cache ms | beam 5 ms | "
        "tokens/caption (greedy, beam) | greedy ms/caption | beam 5 ms/caption |"
    )
    print("|---:|---:|---:|---:|---:|---|---:|---:|")
    with torch.inference_mode():
        for b in args.batches:
            images = torch.rand(b, 3, args.imgsz, args.imgsz)
            forward = median_ms(lambda: model(images), args.repeats)  # noqa: B023
            memory = model(images).main.memory
            greedy_how = Decoding(beam=1, max_len=args.max_tokens)
            beam_how = Decoding(beam=5, max_len=args.max_tokens)
            greedy = median_ms(lambda: decode(head, memory, greedy_how), args.repeats)  # noqa: B023
            beam = median_ms(lambda: decode(head, memory, beam_how), args.repeats)  # noqa: B023
            g_tokens = statistics.mean(len(t) for t in decode(head, memory, greedy_how).tokens)
            b_tokens = statistics.mean(len(t) for t in decode(head, memory, beam_how).tokens)
            steps = round(g_tokens) + 1
            uncached = median_ms(
                lambda: greedy_without_cache(head, memory, steps),  # noqa: B023
                args.repeats,
            )
            print(
                f"| {b} | {forward:.1f} | {greedy:.1f} | {uncached:.1f} | {beam:.1f} | "
                f"{g_tokens:.1f}, {b_tokens:.1f} | {greedy / b:.2f} | {beam / b:.2f} |"
            )
    print("\n" + " ".join(["python", *sys.argv]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
