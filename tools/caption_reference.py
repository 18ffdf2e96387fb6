"""Reference values for the caption metrics, from the COCO caption evaluation's own scorers.

A measuring instrument, run in its own environment (never our dependency):

    python3 -m venv /tmp/capvenv && /tmp/capvenv/bin/pip install pycocoevalcap
    .venv/bin/python tools/caption_reference.py inputs ../shared/data/coco_mini_val2017_captions/\
captions_val2017.json > /tmp/caption_inputs.json
    /tmp/capvenv/bin/python tools/caption_reference.py score /tmp/caption_inputs.json \
        > tests/metrics/data/caption_reference.json

``inputs`` (our environment) tokenises the real captions with ``yolov9.metrics.caption.tokenize``
and makes candidate sets from them: per image, caption 0 against the other four (``human``);
its words reversed (``reversed``); its first three words (``short``). ``score`` (the tool's
environment) runs ``pycocoevalcap``'s ``Bleu(4)`` and ``Cider()`` on each set as the COCO
caption evaluation does after its tokenizer, and writes inputs and scores together.
"""

from __future__ import annotations

import json
import sys


def make_inputs(captions_json: str) -> dict:
    from yolov9.metrics.caption import tokenize

    with open(captions_json) as f:
        doc = json.load(f)
    by_image: dict[int, list[str]] = {}
    for ann in doc["annotations"]:
        by_image.setdefault(int(ann["image_id"]), []).append(ann["caption"])
    refs, human = {}, {}
    for image_id, captions in sorted(by_image.items()):
        words = [" ".join(tokenize(c)) for c in captions]
        human[str(image_id)] = words[0]
        refs[str(image_id)] = words[1:]
    sets = {
        "human": human,
        "reversed": {k: " ".join(v.split()[::-1]) for k, v in human.items()},
        "short": {k: " ".join(v.split()[:3]) for k, v in human.items()},
    }
    return {"references": refs, "candidates": sets}


def score(inputs_json: str) -> dict:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    with open(inputs_json) as f:
        data = json.load(f)
    refs = data["references"]
    out = {}
    for name, cands in data["candidates"].items():
        res = {k: [v] for k, v in cands.items()}
        gts = {k: refs[k] for k in cands}
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        cider, per_image = Cider().compute_score(gts, res)
        out[name] = {
            "BLEU": list(bleu),
            "CIDEr-D": float(cider),
            "CIDEr-D per image": dict(zip(cands, map(float, per_image), strict=True)),
        }
    return {**data, "scores": out}


if __name__ == "__main__":
    command, path = sys.argv[1:3]
    result = make_inputs(path) if command == "inputs" else score(path)
    json.dump(result, sys.stdout, indent=None)
