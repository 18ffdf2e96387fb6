"""Our checkpoint format: tensors and JSON only.

A ``.pt`` file is ``torch.save`` of a dict of tensors, numbers, strings, lists and dicts, so
``torch.load(path, weights_only=True)`` reads it (we read it with the same allow-list reader as
foreign files). A ``.safetensors`` file holds the model weights with the metadata as JSON.
Files are written atomically: a temporary file in the same folder, then a rename.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from yolov9.errors import CheckpointError, ConfigError
from yolov9.models import CaptionSpec, HeadKind, YOLOv9, parse_model_name

FORMAT = "yolov9-checkpoint"
VERSION = 1


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write through ``write(tmp_path)``, flush to disk, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def model_meta(model: YOLOv9, names: list[str], **extra: Any) -> dict[str, Any]:
    from yolov9.version import __version__

    return {
        "model": model.name,
        "num_classes": model.num_classes,
        "names": list(names),
        "task": model.task,
        "head": model.head_kind.name,
        "proto_depth": model.head_kind.proto_depth,
        "num_masks": model.head_kind.num_masks,
        "stuff_classes": model.head_kind.stuff_classes,
        "caption": dataclasses.asdict(spec) if (spec := model.head_kind.caption) else None,
        "reg_max": model.reg_max,
        "aux": model.aux_mode,
        "yolov9_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def _plain_state(model: YOLOv9, half: bool) -> dict[str, Tensor]:
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    return sd


def save_checkpoint(
    path: str | Path,
    model: YOLOv9,
    names: list[str],
    *,
    meta: dict[str, Any] | None = None,
    half: bool = False,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save weights (+ optional training state in ``extra``) in our format, atomically.

    The suffix chooses the container: ``.safetensors`` (weights and metadata only) or a torch
    file (anything else, usually ``.pt``).
    """
    if len(names) != model.num_classes:
        raise ConfigError(f"{len(names)} class names for a {model.num_classes}-class model")
    info = model_meta(model, names, **(meta or {}))
    sd = _plain_state(model, half)
    if str(path).endswith(".safetensors"):
        from safetensors.torch import save_file

        if extra:
            raise ConfigError("training state cannot be stored in .safetensors; use .pt")
        contiguous = {k: v.contiguous() for k, v in sd.items()}
        return atomic_write(
            path, lambda p: save_file(contiguous, str(p), metadata={FORMAT: json.dumps(info)})
        )
    payload = {"format": FORMAT, "version": VERSION, "meta": json.dumps(info), "model": sd}
    payload.update(extra or {})
    return atomic_write(path, lambda p: torch.save(payload, p))


def is_native(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def model_from_state(
    state: dict[str, Tensor], meta: dict[str, Any], source: str
) -> tuple[YOLOv9, list[str]]:
    """Build the model named in ``meta`` and load ``state`` into it (strictly)."""
    try:
        spec, _, head = parse_model_name(str(meta["model"]))
        num_classes = int(meta["num_classes"])
        names = [str(n) for n in meta["names"]]
        if "head" in meta:  # the depth a converted yolov9-x-seg keeps is not in its name
            head = HeadKind(
                str(meta["head"]),
                int(meta.get("proto_depth", head.proto_depth)),
                int(meta.get("num_masks", head.num_masks)),
                int(meta.get("stuff_classes", head.stuff_classes)),
                _caption_spec(meta.get("caption")),
            )
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{source}: invalid metadata ({e})") from None
    with_aux = any(k.startswith("aux.") for k in state)
    aux_mode = str(meta.get("aux", "pgi")) if with_aux else "none"
    try:
        model = YOLOv9(
            spec,
            num_classes,
            with_aux=with_aux,
            reg_max=int(meta.get("reg_max", 16)),
            aux_mode=aux_mode,
            head=head,
        )
    except ConfigError as e:  # e.g. a head kind this version does not know
        raise CheckpointError(f"{source}: {e}") from None
    if str(meta.get("task", model.task)) != model.task:
        raise CheckpointError(
            f"{source}: the file says task {meta['task']!r}, but its {model.name} network "
            f"does {model.task} (update yolov9, or save the checkpoint again)"
        )
    expected = model.state_dict()
    problems = [f"missing {k}" for k in expected if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in expected]
    problems += [
        f"{k}: shape {tuple(v.shape)} != {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape and k != "caption.vocab"
    ]  # a caption model's vocabulary is as long as its file says
    if problems:
        raise CheckpointError(
            f"{source}: weights do not fit {model.name} with {num_classes} classes "
            f"({'; '.join(problems[:3])}{'; ...' if len(problems) > 3 else ''})"
        )
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model, names


def _caption_spec(raw: Any) -> CaptionSpec | None:
    """A caption head's sizes from the metadata (None: not a caption model)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TypeError(f"'caption' must be a mapping, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(CaptionSpec)}
    return CaptionSpec(**{k: v for k, v in raw.items() if k in known})


def load_native(obj: dict[str, Any], source: str) -> tuple[YOLOv9, list[str], dict[str, Any]]:
    if obj.get("version", 0) > VERSION:
        raise CheckpointError(f"{source}: written by a newer yolov9 (format {obj['version']})")
    meta = json.loads(obj["meta"])
    state = obj.get("ema") or obj["model"]
    model, names = model_from_state(state, meta, source)
    return model, names, meta


def load_safetensors(path: Path) -> tuple[YOLOv9, list[str], dict[str, Any]]:
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(FORMAT)
        state = load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: unreadable safetensors file ({e})") from None
    if raw is None:
        raise CheckpointError(f"{path}: safetensors file without yolov9 metadata")
    meta = json.loads(raw)
    model, names = model_from_state(state, meta, str(path))
    return model, names, meta
