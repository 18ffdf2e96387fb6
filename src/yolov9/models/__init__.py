"""Model zoo: ``build_model("yolov9-c")`` (training graph) or ``build_model("gelan-c")``."""

from __future__ import annotations

import difflib
from typing import NamedTuple

from yolov9.errors import ConfigError
from yolov9.models.head import TASKS, DetectHead, HeadOutput
from yolov9.models.variants import SPECS, AuxKind, ModelSpec
from yolov9.models.yolov9 import ModelOutput, YOLOv9

__all__ = [
    "SPECS",
    "TASKS",
    "AuxKind",
    "DetectHead",
    "HeadOutput",
    "ModelName",
    "ModelOutput",
    "ModelSpec",
    "YOLOv9",
    "build_model",
    "list_models",
    "parse_model_name",
]


def list_models() -> list[str]:
    """All buildable names: ``yolov9-t`` ... ``yolov9-e`` and ``gelan-t`` ... ``gelan-e``."""
    return [f"{family}-{size}" for family in ("yolov9", "gelan") for size in SPECS]


class ModelName(NamedTuple):
    """What a model name says: the size's spec, whether it has the PGI branch, its task."""

    spec: ModelSpec
    with_aux: bool
    task: str


def parse_model_name(name: str) -> ModelName:
    """``"yolov9-c"`` -> (spec C, with_aux=True, "detect"); ``"gelan-c"`` -> (spec C, False,
    "detect").

    Raises:
        ConfigError: not a known name (with the closest one as a hint).
    """
    key = name.strip().lower()
    family, _, size = key.partition("-")
    if family in ("yolov9", "gelan") and size in SPECS:
        return ModelName(SPECS[size], family == "yolov9", TASKS[0])
    close = difflib.get_close_matches(key, list_models(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown model {name!r}.{hint} Known models: {', '.join(list_models())}")


def build_model(name: str, num_classes: int = 80, *, reg_max: int = 16, aux: str = "pgi") -> YOLOv9:
    """Build a randomly initialised model by name, for any number of classes.

    ``aux`` chooses the auxiliary branch of a ``yolov9-*`` model: ``"pgi"`` (the paper's
    YOLOv9), ``"deep-supervision"`` (the ablation baseline) or ``"none"`` (same as gelan-*).
    """
    spec, with_aux, task = parse_model_name(name)
    if aux == "none":
        with_aux = False
    return YOLOv9(spec, num_classes, with_aux=with_aux, reg_max=reg_max, aux_mode=aux, task=task)
