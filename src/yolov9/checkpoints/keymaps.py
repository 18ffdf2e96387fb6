"""Explicit key maps between our module tree and the two published layouts.

Both published layouts are flat layer lists (``model.<i>.`` in the authors' files, ``<i>.`` in
the MIT rewrite's). For each size we write that list out as the prefix of our module that
each layer index is, then translate every one of our state-dict keys. The maps are checked
both ways when loading: every key of the file must be used exactly once and every key of our
model must be filled, with equal shapes (see :func:`remap_state_dict`).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from yolov9.errors import CheckpointError
from yolov9.models.blocks import ELAN1, SPPELAN, AConv, ADown, RepNBottleneck, RepNCSP, RepNCSPELAN4
from yolov9.models.variants import DETECT, AuxKind, HeadKind, ModelSpec

HEAD = "<head>"  # marks the detection-head layer in a layer list
SKIP = None  # a parameter-free layer (Upsample, Concat, CBFuse, Silence)


def _backbone(prefix: str, fused_levels: tuple[int, ...] = ()) -> list[str | None]:
    """Layers of one GELAN backbone in file order; CBFuse layers where routes are added."""
    layers: list[str | None] = []
    for level in range(1, 6):
        layers.append(f"{prefix}.p{level}.down")
        if level in fused_levels:
            layers.append(SKIP)
        if level > 1:
            layers.append(f"{prefix}.p{level}.block")
    return layers


def _top_down(prefix: str) -> list[str | None]:
    return [f"{prefix}.spp", SKIP, SKIP, f"{prefix}.merge4", SKIP, SKIP, f"{prefix}.merge3"]


def _pan(prefix: str = "neck") -> list[str | None]:
    return [
        *_top_down(f"{prefix}.top_down"),
        *(f"{prefix}.down4", SKIP, f"{prefix}.merge4", f"{prefix}.down5", SKIP),
        f"{prefix}.merge5",
    ]


def _official_body(spec: ModelSpec, with_aux: bool) -> list[str | None]:
    """Layers before the head: backbone(s), neck, and the auxiliary branch if present."""
    if spec.dual_backbone:  # E: Silence, backbone 1, 5 CBLinear, backbone 2 fused at P1-P5
        layers: list[str | None] = [SKIP, *_backbone("backbone.first")]
        layers += [f"backbone.links.{i}" for i in range(5)]
        layers += _backbone("backbone.second", (1, 2, 3, 4, 5))
        if with_aux:
            layers += _top_down("aux.neck")
        return [*layers, *_pan()]
    if spec.aux is AuxKind.REVERSIBLE:  # M, C: the training graph starts with Silence
        main = [*_backbone("backbone"), *_pan()]
        if not with_aux:
            return main
        links = [f"aux.links.{i}" for i in range(3)]
        return [SKIP, *main, *links, *_backbone("aux.backbone", (3, 4, 5))]
    main = [*_backbone("backbone"), *_pan()]  # T, S
    return [*main, *_top_down("aux.neck")] if with_aux else main


def _proto_branch(head: str) -> list[str | None]:
    """DSegment's prototype branch: RepNCSPELAN4, Upsample, Conv (separate layers there)."""
    return [f"{head}.proto.block", SKIP, f"{head}.proto.conv"]


def official_layers(spec: ModelSpec, with_aux: bool, head: HeadKind = DETECT) -> list[str | None]:
    """Our module prefix for every layer index of the authors' model files.

    Segmentation (``dsegment``) puts the prototype branches before the head, auxiliary first
    (``yolov9-c-dseg.yaml`` layers 38-43, ``gelan-c-dseg.yaml`` layers 22-24); the sizes other
    than C follow the same pattern (the authors publish no such files).
    """
    layers = _official_body(spec, with_aux)
    if head.name == "dsegment":
        layers += [*(_proto_branch("aux.head") if with_aux else []), *_proto_branch("head")]
    return [*layers, HEAD]


def mit_layers(spec: ModelSpec, with_aux: bool) -> list[str | None]:
    """Our module prefix for every layer index of the MIT rewrite (main head always at 22)."""
    if spec.dual_backbone:
        raise CheckpointError("the MIT rewrite has no YOLOv9-E layout")
    layers = [*_backbone("backbone"), *_pan(), HEAD]
    if not with_aux:
        return layers
    if spec.aux is AuxKind.REVERSIBLE:
        links = [f"aux.links.{i}" for i in range(3)]
        return [*layers, *links, *_backbone("aux.backbone", (3, 4, 5)), "<aux-head>"]
    return [*layers, *_top_down("aux.neck"), "<aux-head>"]


# MIT renames of sub-modules, by the class of the module that owns them.
_MIT_CHILD_NAMES: dict[type, dict[str, str]] = {
    RepNCSPELAN4: {"cv1": "conv1", "cv2": "conv2", "cv3": "conv3", "cv4": "conv4"},
    ELAN1: {"cv1": "conv1", "cv2": "conv2", "cv3": "conv3", "cv4": "conv4"},
    RepNCSP: {"cv1": "conv1", "cv2": "conv2", "cv3": "conv3", "m": "bottleneck"},
    RepNBottleneck: {"cv1": "conv1", "cv2": "conv2"},
    AConv: {"cv1": "conv"},
    ADown: {"cv1": "conv1", "cv2": "conv2"},
    SPPELAN: {"cv1": "conv1", "cv5": "conv5"},
}


def _rename_children(module: nn.Module, rest: str) -> str:
    parts, out = rest.split("."), []
    for part in parts:
        out.append(_MIT_CHILD_NAMES.get(type(module), {}).get(part, part))
        child = module._modules.get(part)
        if child is None:
            break
        module = child
    return ".".join(out + parts[len(out) :])


def _prefix_table(layers: list[str | None]) -> dict[str, int]:
    return {p: i for i, p in enumerate(layers) if p is not None}


def _split(key: str, table: dict[str, int]) -> tuple[int, str, str]:
    """Longest module prefix of ``key`` found in ``table`` -> (layer index, prefix, rest)."""
    parts = key.split(".")
    for n in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in table:
            return table[prefix], prefix, ".".join(parts[n:])
    raise KeyError(key)


# Head sub-module names: DDetect / DSegment / Segment (one head) and DualDDetect /
# DualDSegment (aux half first, then main). Segment's Proto is cv1/cv2/cv3; DSegment's 1x1
# prototype conv is `proto` (aux) / `proto2` (main).
_SINGLE = {"box": "cv2", "cls": "cv3", "dfl": "dfl", "coef": "cv4", "proto.out": "proto"}
_DUAL_AUX = {"box": "cv2", "cls": "cv3", "dfl": "dfl", "coef": "cv6", "proto.out": "proto"}
_DUAL_MAIN = {"box": "cv4", "cls": "cv5", "dfl": "dfl2", "coef": "cv7", "proto.out": "proto2"}
_PROTO = {"proto.conv1": "proto.cv1", "proto.conv2": "proto.cv2", "proto.out": "proto.cv3"}
_SEMANTIC = {"semantic.conv": "uconv.cv1", "semantic.out": "uconv.cv2"}  # Panoptic's UConv


def _official_head_key(key: str, with_aux: bool, kind: HeadKind) -> str:
    """``head.box.0.1.conv.weight`` -> ``cv2.0.1.conv.weight`` (without the layer prefix)."""
    is_aux = key.startswith("aux.")
    rest = key.removeprefix("aux.").removeprefix("head.")
    names = (_DUAL_AUX if is_aux else _DUAL_MAIN) if with_aux else _SINGLE
    if kind.name in ("segment", "panoptic"):
        names = {**names, **_PROTO}
    if kind.name == "panoptic":
        names = {**names, **_SEMANTIC}
    for ours in sorted(names, key=len, reverse=True):
        if rest.startswith(ours + "."):
            return names[ours] + rest[len(ours) :]
    raise CheckpointError(f"no published name for {key}")


def official_key_map(model: nn.Module, spec: ModelSpec, with_aux: bool) -> dict[str, str]:
    """Our state-dict key -> the authors' key, for every key of ``model``."""
    kind: HeadKind = getattr(model, "head_kind", DETECT)
    layers = official_layers(spec, with_aux, kind)
    head_index = layers.index(HEAD)
    table = _prefix_table([p if p != HEAD else None for p in layers])
    out = {}
    for key in model.state_dict():
        try:
            index, _, rest = _split(key, table)
            out[key] = f"model.{index}.{rest}"
        except KeyError:
            out[key] = f"model.{head_index}.{_official_head_key(key, with_aux, kind)}"
    return out


def mit_key_map(model: nn.Module, spec: ModelSpec, with_aux: bool) -> dict[str, str]:
    """Our state-dict key -> the MIT rewrite's key (its DFL is stored once per level)."""
    if getattr(model, "head_kind", DETECT) != DETECT:
        raise CheckpointError("the MIT rewrite publishes no segmentation weights in this layout")
    layers = mit_layers(spec, with_aux)
    table = _prefix_table([p if p not in (HEAD, "<aux-head>") else None for p in layers])
    modules = dict(model.named_modules())
    out = {}
    for key in model.state_dict():
        if key.startswith(("head.", "aux.head.")):
            index = layers.index("<aux-head>" if key.startswith("aux.") else HEAD)
            branch, _, rest = key.removeprefix("aux.").removeprefix("head.").partition(".")
            if branch == "dfl":
                out[key] = f"{index}.heads.0.anc2vec.anc2vec.weight"
                continue
            level, _, rest = rest.partition(".")
            name = {"box": "anchor_conv", "cls": "class_conv"}[branch]
            out[key] = f"{index}.heads.{level}.{name}.{rest}"
        else:
            index, prefix, rest = _split(key, table)
            out[key] = f"{index}.{_rename_children(modules[prefix], rest)}"
    return out


def remap_state_dict(
    model: nn.Module,
    source: dict[str, Tensor],
    key_map: dict[str, str],
    *,
    source_name: str,
    ignore: Callable[[str], bool] = lambda k: False,
) -> dict[str, Tensor]:
    """Build ``model``'s state dict from a foreign one, asserting a one-to-one fit.

    Raises:
        CheckpointError: a key is missing or unused, or a shape differs.
    """
    target = model.state_dict()
    out, problems = {}, []
    for ours, theirs in key_map.items():
        if theirs not in source:
            problems.append(f"missing {theirs}")
            continue
        value = source[theirs]
        if value.numel() == target[ours].numel() and value.shape != target[ours].shape:
            value = value.reshape(target[ours].shape)  # DFL weight: conv2d vs conv3d shape
        if value.shape != target[ours].shape:
            problems.append(f"{theirs}: shape {tuple(value.shape)} != {tuple(target[ours].shape)}")
            continue
        out[ours] = value
    used = set(key_map.values())
    unused = [k for k in source if k not in used and not ignore(k)]
    problems += [f"unexpected {k}" for k in unused]
    if problems:
        shown = "; ".join(problems[:5]) + (
            f"; ... ({len(problems)} problems)" if len(problems) > 5 else ""
        )
        raise CheckpointError(f"{source_name}: does not match {model.name}: {shown}")  # type: ignore[attr-defined]
    return out
