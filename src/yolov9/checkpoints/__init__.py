"""Reading and writing checkpoints: ours, the authors' published files, the MIT rewrite's."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolov9.checkpoints.foreign import is_mit_state_dict, is_official, load_mit, load_official
from yolov9.checkpoints.hub import RELEASES, resolve_weights
from yolov9.checkpoints.native import (
    is_native,
    load_native,
    load_safetensors,
    save_checkpoint,
)
from yolov9.checkpoints.safe_pickle import read_torch_file
from yolov9.data.coco_panoptic import default_stuff_names
from yolov9.errors import CheckpointError
from yolov9.models import YOLOv9

__all__ = [
    "RELEASES",
    "CheckpointError",
    "LoadedWeights",
    "load_weights",
    "read_torch_file",
    "resolve_weights",
    "save_checkpoint",
]


@dataclass
class LoadedWeights:
    """A model built and filled from a checkpoint, with its class names and metadata."""

    model: YOLOv9
    names: list[str]
    path: Path
    source_format: str  # "yolov9", "official" or "mit"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def imgsz(self) -> int:
        return int(self.meta.get("imgsz", 640))

    @property
    def stuff_names(self) -> list[str]:
        """A panoptic model's stuff class names (its semantic channels after the things): as
        recorded, else COCO-Stuff's for the authors' 93-channel layout, else ``stuff<i>``."""
        count = self.model.head_kind.stuff_classes
        return default_stuff_names(count, self.meta.get("stuff_names"))


def load_weights(weights: str | Path, *, progress: bool = True) -> LoadedWeights:
    """Load any supported checkpoint by path or release name, without executing its code.

    Raises:
        CheckpointError: unreadable, truncated, unsafe, or not a YOLOv9/GELAN checkpoint.
    """
    path = resolve_weights(weights, progress=progress)
    if path.suffix == ".safetensors":
        model, names, meta = load_safetensors(path)
        return LoadedWeights(model, names, path, "yolov9", meta)
    obj = read_torch_file(path)
    if is_native(obj):
        model, names, meta = load_native(obj, str(path))
        return LoadedWeights(model, names, path, "yolov9", meta)
    if is_official(obj):
        model, names = load_official(obj, str(path))
        return LoadedWeights(model, names, path, "official", {})
    if is_mit_state_dict(obj):
        model, names = load_mit(obj, str(path))
        return LoadedWeights(model, names, path, "mit", {})
    raise CheckpointError(
        f"{path}: not a YOLOv9 checkpoint (neither this package's format, the authors' "
        "published format nor a MIT-rewrite state dict)"
    )
