"""Parameter and GFLOP summary of a model, per part."""

from __future__ import annotations

import copy
from typing import Any

import torch

from yolov9.models.variants import AUTHORS_GRAPHS, HeadKind
from yolov9.models.yolov9 import YOLOv9
from yolov9.utils.flops import count_gflops

_HEADS = {
    "detect": "detection (DDetect)",
    "segment": "instance segmentation (Segment: Proto on P3)",
    "dsegment": "instance segmentation (DSegment: prototype branch on P3, depth {depth})",
    "panoptic": "panoptic (Panoptic: Segment + semantic UConv on P3, things + stuff)",
    "dpanoptic": "panoptic (DSegment, prototype branch depth {depth}, + semantic UConv on P3)",
    "caption": "detection (DDetect) + caption head (transformer encoder-decoder on P5 cells and "
    "top anchors; GFLOPs count the encoder, not the decoding)",
}


def _graph_source(name: str, head: HeadKind) -> str:
    """Whose design the graph is: the authors' published model files, or our extension."""
    if name in AUTHORS_GRAPHS:
        if name == "gelan-c-dseg" and head.proto_depth == 2:
            return "the authors' yolov9-c-seg, converted (keeps its depth-2 prototype branch)"
        return "the authors' model file"
    if head.name == "dpanoptic":
        return (
            "ours: the authors' PGI panoptic graph does not build, so yolov9-x-seg's graph "
            "plus the semantic branch per head (no published weights)"
        )
    if head.caption is not None:
        return (
            "ours: the detector plus a caption head written from the description of the "
            "authors' later GRIT-style head (no published weights)"
        )
    return "ours: the authors' design extended to this size (no published weights)"


def _count(module: torch.nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def model_summary(model: YOLOv9, imgsz: int = 640) -> dict[str, Any]:
    """Parameters of backbone, neck, head and auxiliary branch; fused total; GFLOPs (fused).

    Counts include the frozen DFL projection (16 per head), as the reference's counts do.
    """
    fused = copy.deepcopy(model).to("meta").eval().fuse()
    return {
        "model": model.name,
        "task": model.task,
        "head": _HEADS[model.head_kind.name].format(depth=model.head_kind.proto_depth),
        "graph": _graph_source(model.name, model.head_kind),
        "num_classes": model.num_classes,
        "imgsz": imgsz,
        "parts": {
            "backbone": _count(model.backbone),
            "neck": _count(model.neck),
            "head": _count(model.head),
            "aux": _count(model.aux),
            **({"caption": _count(model.caption)} if model.caption is not None else {}),
        },
        "params": _count(model),
        "params_fused": _count(fused),
        "params_deploy": _count(model) - _count(model.aux),
        "gflops": round(count_gflops(model, imgsz), 3),
    }


def format_summary(s: dict[str, Any]) -> str:
    lines = [
        f"{s['model']}: {s['num_classes']} classes, {s['imgsz']}x{s['imgsz']} input",
        f"  head: {s['head']}",
        f"  graph: {s['graph']}",
    ]
    for part, n in s["parts"].items():
        note = "  (training only; removed by convert)" if part == "aux" and n else ""
        lines.append(f"  {part:<10}{n:>14,}{note}")
    lines.append(f"  {'total':<10}{s['params']:>14,}")
    lines.append(f"  {'fused':<10}{s['params_fused']:>14,}  (BN folded, RepConvN merged)")
    lines.append(f"  {'GFLOPs':<10}{s['gflops']:>14.2f}  (fused)")
    return "\n".join(lines)
