"""Load the authors' published files and the MIT rewrite's state dicts into our models.

The architecture is identified from the tensors alone (never from code or YAML in the file):
for each size, with and without the auxiliary branch, we build the model on the ``meta``
device (no memory, no compute), translate its keys and compare key sets and shapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from yolov9.checkpoints.keymaps import mit_key_map, official_key_map, remap_state_dict
from yolov9.checkpoints.safe_pickle import ModuleStub, stub_state_dict
from yolov9.errors import CheckpointError
from yolov9.models import SPECS, YOLOv9
from yolov9.models.variants import DETECT, NO_PGI_FORM, HeadKind, ModelSpec

log = logging.getLogger(__name__)

KeyMapFn = Callable[[YOLOv9, ModelSpec, bool], dict[str, str]]


def _infer_head(sd: dict[str, Tensor], cls_suffix: str, box_suffix: str) -> tuple[int, int]:
    cls = [v for k, v in sd.items() if k.endswith(cls_suffix)]
    box = [v for k, v in sd.items() if k.endswith(box_suffix)]
    if not cls or not box:
        raise CheckpointError("no detection head found")
    return int(cls[0].shape[0]), int(box[0].shape[0]) // 4


def _head_kinds(sd: dict[str, Tensor], num_classes: int) -> list[HeadKind]:
    """The head kinds a file may hold: detection, or (with prototype weights) segmentation
    with as many masks as the prototype convolution has outputs, or (with a semantic branch,
    the authors' ``UConv``) panoptic with as many stuff entries as its channels beyond the
    classes."""
    protos = [
        v for k, v in sd.items() if k.endswith((".proto.cv3.conv.weight", ".proto.conv.weight"))
    ]
    if not protos:
        return [DETECT]
    m = int(protos[0].shape[0])
    semantic = [v for k, v in sd.items() if k.endswith(".uconv.cv2.weight")]
    if semantic:
        stuff = int(semantic[0].shape[0]) - num_classes
        return [HeadKind("panoptic", num_masks=m, stuff_classes=stuff)]
    return [HeadKind("segment", num_masks=m)] + [
        HeadKind("dsegment", proto_depth=d, num_masks=m) for d in (2, 1)
    ]


def _identify(
    sd: dict[str, Tensor], num_classes: int, reg_max: int, key_map: KeyMapFn, source: str
) -> tuple[YOLOv9, dict[str, str]]:
    """Find the (size, with_aux, head) whose translated keys and shapes equal the file's."""
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    candidates = [
        (spec, with_aux, head)
        for head in _head_kinds(sd, num_classes)
        for spec in SPECS.values()
        for with_aux in (True, False)
        if not (with_aux and head.name in NO_PGI_FORM)
    ]
    for spec, with_aux, head in candidates:
        with torch.device("meta"):
            model = YOLOv9(spec, num_classes, with_aux=with_aux, reg_max=reg_max, head=head)
        try:
            kmap = key_map(model, spec, with_aux)
        except CheckpointError:
            continue
        if set(kmap.values()) - shapes.keys():
            continue
        ours = model.state_dict()
        if all(ours[k].numel() == _numel(shapes[v]) for k, v in kmap.items()):
            return model, kmap
    raise CheckpointError(
        f"{source}: the tensors do not match any YOLOv9/GELAN size T/S/M/C/E "
        f"({len(sd)} tensors, {num_classes} classes); custom architectures are not supported"
    )


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _materialise(
    meta_model: YOLOv9,
    sd: dict[str, Tensor],
    kmap: dict[str, str],
    source: str,
    ignore: Callable[[str], bool] = lambda k: False,
) -> YOLOv9:
    model = YOLOv9(
        meta_model.spec,
        meta_model.num_classes,
        with_aux=meta_model.aux is not None,
        reg_max=meta_model.reg_max,
        head=meta_model.head_kind,
    )
    remapped = remap_state_dict(model, sd, kmap, source_name=source, ignore=ignore)
    model.load_state_dict(
        {k: v.float() if v.is_floating_point() else v for k, v in remapped.items()}
    )
    return model


def _names(raw: Any, num_classes: int) -> list[str]:
    if isinstance(raw, dict):
        names = [str(raw[k]) for k in sorted(raw)]
    elif isinstance(raw, (list, tuple)):
        names = [str(n) for n in raw]
    else:
        names = []
    if len(names) != num_classes:
        names = [f"class{i}" for i in range(num_classes)]
    return names


def is_official(obj: Any) -> bool:
    """The authors' format: a dict whose ``model``/``ema`` is a pickled module."""
    return isinstance(obj, dict) and any(
        isinstance(obj.get(k), ModuleStub) for k in ("ema", "model")
    )


def load_official(obj: dict[str, Any], source: str) -> tuple[YOLOv9, list[str]]:
    """Model and class names from an unpickled official checkpoint (EMA weights preferred)."""
    module = obj.get("ema") if isinstance(obj.get("ema"), ModuleStub) else obj.get("model")
    sd = stub_state_dict(module)
    if not sd:
        raise CheckpointError(f"{source}: the pickled model holds no tensors")
    try:
        nc, reg_max = _infer_head(sd, ".cv3.0.2.bias", ".cv2.0.2.bias")
    except CheckpointError as e:
        raise CheckpointError(f"{source}: {e}") from None
    meta_model, kmap = _identify(sd, nc, reg_max, official_key_map, source)
    model = _materialise(meta_model, sd, kmap, source)
    log.info("%s: read the authors' %s checkpoint (%d classes)", source, model.name, nc)
    return model, _names(getattr(module, "names", None), nc)


def is_mit_state_dict(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    obj = obj.get("state_dict", obj.get("model_state_dict", obj))
    return isinstance(obj, dict) and any(
        isinstance(k, str) and ".heads.0.class_conv." in k for k in obj
    )


def load_mit(obj: dict[str, Any], source: str) -> tuple[YOLOv9, list[str]]:
    """Model from a MIT-rewrite state dict (plain, ``model_state_dict`` or Lightning ckpt)."""
    if "state_dict" in obj:
        sd = {k.removeprefix("model.model."): v for k, v in obj["state_dict"].items()}
    else:
        sd = obj.get("model_state_dict", obj)
    sd = {k: v for k, v in sd.items() if isinstance(v, Tensor)}
    nc, reg_max = _infer_head(sd, ".heads.0.class_conv.2.bias", ".heads.0.anchor_conv.2.bias")
    meta_model, kmap = _identify(sd, nc, reg_max, mit_key_map, source)

    # The MIT head stores the (constant) DFL projection once per level; we read level 0.
    def extra_dfl(key: str) -> bool:
        return ".anc2vec." in key

    model = _materialise(meta_model, sd, kmap, source, ignore=extra_dfl)
    log.info("%s: read a MIT-rewrite %s state dict (%d classes)", source, model.name, nc)
    return model, _names(None, nc)
