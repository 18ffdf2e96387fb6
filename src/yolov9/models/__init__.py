"""Model zoo: ``build_model("yolov9-c")`` (training graph) or ``build_model("gelan-c")``;
``-seg`` / ``-dseg`` names are the instance-segmentation forms."""

from __future__ import annotations

import dataclasses
import difflib
from typing import NamedTuple

from yolov9.errors import ConfigError
from yolov9.models.head import DetectHead, HeadOutput
from yolov9.models.variants import (
    AUTHORS_GRAPHS,
    DETECT,
    SPECS,
    AuxKind,
    CaptionSpec,
    HeadKind,
    ModelSpec,
)
from yolov9.models.yolov9 import ModelOutput, YOLOv9

__all__ = [
    "AUTHORS_GRAPHS",
    "DETECT",
    "SPECS",
    "AuxKind",
    "CaptionSpec",
    "DetectHead",
    "HeadKind",
    "HeadOutput",
    "ModelName",
    "ModelOutput",
    "ModelSpec",
    "YOLOv9",
    "build_model",
    "list_models",
    "parse_model_name",
]


DEFAULT_VOCAB = 1000  # a caption model's vocabulary size when none is given (train: model.vocab)

# Segmentation names -> head kind. "yolov9-x-dseg" is accepted as the authors' file name.
_SEG_SUFFIXES = {
    ("gelan", "seg"): HeadKind("segment"),
    ("gelan", "dseg"): HeadKind("dsegment", proto_depth=1),
    ("yolov9", "seg"): HeadKind("dsegment", proto_depth=2),
    ("yolov9", "dseg"): HeadKind("dsegment", proto_depth=2),
    # the authors' COCO layout: 93 stuff entries after the things (build_model can change it)
    ("gelan", "pan"): HeadKind("panoptic", stuff_classes=93),
    # ours (PGI): yolov9-x-seg's head plus the semantic branch; converted: gelan-x-dpan
    ("yolov9", "pan"): HeadKind("dpanoptic", proto_depth=2, stuff_classes=93),
    ("gelan", "dpan"): HeadKind("dpanoptic", proto_depth=1, stuff_classes=93),
    # detection plus a caption head; its vocabulary size comes from the data (build_model)
    ("gelan", "cap"): HeadKind("caption", caption=CaptionSpec()),
    ("yolov9", "cap"): HeadKind("caption", caption=CaptionSpec()),
    # every task: yolov9-x-pan's head plus the caption head; gelan-x-all is what
    # yolov9-x-all converts to (prototype depth 2 both), so the two differ by PGI alone
    ("yolov9", "all"): HeadKind(
        "dpanoptic", proto_depth=2, stuff_classes=93, caption=CaptionSpec()
    ),
    ("gelan", "all"): HeadKind("dpanoptic", proto_depth=2, stuff_classes=93, caption=CaptionSpec()),
}


def list_models(task: str | None = None) -> list[str]:
    """All buildable names: ``yolov9-t`` ... ``gelan-e`` (detection), then
    ``yolov9-x-seg``, ``gelan-x-seg`` and ``gelan-x-dseg`` (segmentation); ``task`` filters."""
    detect = [f"{family}-{size}" for family in ("yolov9", "gelan") for size in SPECS]
    segment = [f"{n}-{suffix}" for n in detect for suffix in ("seg", "dseg")]
    segment = [n for n in segment if not n.endswith("dseg") or n.startswith("gelan")]
    panoptic = [f"{family}-{size}-pan" for family in ("yolov9", "gelan") for size in SPECS]
    panoptic += [f"gelan-{size}-dpan" for size in SPECS]
    caption = [f"{family}-{size}-cap" for family in ("yolov9", "gelan") for size in SPECS]
    every = [f"{family}-{size}-all" for family in ("yolov9", "gelan") for size in SPECS]
    by_task = {
        "detect": detect,
        "segment": segment,
        "panoptic": panoptic,
        "caption": caption,
        "all": every,
    }
    return by_task.get(task or "", detect + segment + panoptic + caption + every)


class ModelName(NamedTuple):
    """What a model name says: the size's spec, whether it has the PGI branch, its head."""

    spec: ModelSpec
    with_aux: bool
    head: HeadKind

    @property
    def task(self) -> str:
        return self.head.task


def parse_model_name(name: str) -> ModelName:
    """``"yolov9-c"`` -> (spec C, with_aux=True, detect); ``"gelan-c-seg"`` -> (spec C, False,
    the authors' Segment head); ``"yolov9-c-seg"`` -> (spec C, True, dsegment of depth 2).

    Raises:
        ConfigError: not a known name (with the closest one as a hint).
    """
    key = name.strip().lower()
    family, _, rest = key.partition("-")
    size, _, suffix = rest.partition("-")
    if family in ("yolov9", "gelan") and size in SPECS:
        if not suffix:
            return ModelName(SPECS[size], family == "yolov9", DETECT)
        if (family, suffix) in _SEG_SUFFIXES:
            return ModelName(SPECS[size], family == "yolov9", _SEG_SUFFIXES[(family, suffix)])
    close = difflib.get_close_matches(key, list_models(), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown model {name!r}.{hint} Known models: {', '.join(list_models())}")


def build_model(
    name: str,
    num_classes: int = 80,
    *,
    reg_max: int = 16,
    aux: str = "pgi",
    stuff_classes: int | None = None,
    caption: CaptionSpec | None = None,
    vocabulary: bytes | None = None,
) -> YOLOv9:
    """Build a randomly initialised model by name, for any number of classes.

    ``aux`` chooses the auxiliary branch of a ``yolov9-*`` model: ``"pgi"`` (the paper's
    YOLOv9), ``"deep-supervision"`` (the ablation baseline) or ``"none"`` (same as gelan-*).
    ``stuff_classes``: a panoptic model's semantic channels beyond its ``num_classes`` things
    (default 93, the authors' COCO layout). ``caption``: a caption model's head sizes (default:
    the reference's, with a vocabulary of 1000 ids, the most ``train`` learns by default);
    ``vocabulary``: the tokenizer's bytes it keeps (a model without them cannot caption).
    """
    spec, with_aux, head = parse_model_name(name)
    if stuff_classes is not None and head.stuff_classes:  # a panoptic head
        head = dataclasses.replace(head, stuff_classes=stuff_classes)
    if head.caption is not None:
        caption = caption or CaptionSpec(vocab_size=DEFAULT_VOCAB)
        if caption.vocab_size < 4:
            raise ConfigError(f"{name}: a caption vocabulary has at least 4 ids (PAD UNK BOS EOS)")
        head = dataclasses.replace(head, caption=caption)
    if aux == "none":
        with_aux = False
    model = YOLOv9(spec, num_classes, with_aux=with_aux, reg_max=reg_max, aux_mode=aux, head=head)
    if vocabulary is not None and model.caption is not None:
        model.caption.set_vocabulary(vocabulary)
    return model
