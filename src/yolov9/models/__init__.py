"""Model zoo: ``build_model("yolov9-c")`` (training graph) or ``build_model("gelan-c")``."""

from __future__ import annotations

import difflib

from yolov9.models.head import DetectHead, HeadOutput
from yolov9.models.variants import SPECS, AuxKind, ModelSpec
from yolov9.models.yolov9 import ModelOutput, YOLOv9

__all__ = [
    "SPECS",
    "AuxKind",
    "DetectHead",
    "HeadOutput",
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


def parse_model_name(name: str) -> tuple[ModelSpec, bool]:
    """``"yolov9-c"`` -> (spec C, with_aux=True); ``"gelan-c"`` -> (spec C, False)."""
    key = name.strip().lower()
    family, _, size = key.partition("-")
    if family in ("yolov9", "gelan") and size in SPECS:
        return SPECS[size], family == "yolov9"
    close = difflib.get_close_matches(key, list_models(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown model {name!r}.{hint} Known models: {', '.join(list_models())}")


def build_model(name: str, num_classes: int = 80, *, reg_max: int = 16, aux: str = "pgi") -> YOLOv9:
    """Build a randomly initialised model by name, for any number of classes.

    ``aux`` chooses the auxiliary branch of a ``yolov9-*`` model: ``"pgi"`` (the paper's
    YOLOv9), ``"deep-supervision"`` (the ablation baseline) or ``"none"`` (same as gelan-*).
    """
    spec, with_aux = parse_model_name(name)
    if aux == "none":
        with_aux = False
    return YOLOv9(spec, num_classes, with_aux=with_aux, reg_max=reg_max, aux_mode=aux)
