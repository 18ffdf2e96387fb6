"""``yolov9 convert``: remove the PGI auxiliary branch and write our checkpoint format."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from yolov9.checkpoints import load_weights, save_checkpoint
from yolov9.models import YOLOv9


@dataclass(frozen=True)
class ConvertReport:
    source_model: str
    model: str
    output: Path
    params: int
    max_diff: float  # main-head output of the written file vs the input checkpoint


@torch.no_grad()
def _main_output(model: YOLOv9, x: torch.Tensor) -> torch.Tensor:
    """Every output of the main head, flattened: box logits, class logits and, for
    segmentation, mask coefficients and prototypes (panoptic: and semantic logits)."""
    out = model.eval()(x).main
    parts = [out.pred_dist, out.pred_logits, out.coeffs, out.protos, out.semantic]
    return torch.cat([t.flatten() for t in parts if t is not None])


def convert_checkpoint(src: str | Path, dst: str | Path, *, half: bool = False) -> ConvertReport:
    """Load any checkpoint, drop the auxiliary branch, save, and verify the saved file.

    The check reloads the written file and compares its main-head output with the input
    model's on a random 1x3x128x128 image: 0 for fp32 output (bit-identical), fp16 rounding
    with ``half``.
    """
    loaded = load_weights(src)
    source_name = loaded.model.name
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    before = _main_output(loaded.model, x)
    model = loaded.model.drop_aux()
    kept = ("imgsz", "config", "epoch", "metrics", "stuff_names")
    meta = {k: v for k, v in loaded.meta.items() if k in kept}
    meta["converted_from"] = f"{source_name} ({loaded.source_format} format, {loaded.path.name})"
    path = save_checkpoint(dst, model, loaded.names, meta=meta, half=half)
    after = _main_output(load_weights(path).model, x)
    return ConvertReport(
        source_name,
        model.name,
        path,
        sum(p.numel() for p in model.parameters()),
        float((before - after).abs().max()),
    )
