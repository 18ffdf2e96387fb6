"""Write checkpoints in the authors' format for tests: a pickled module tree whose classes
carry the authors' module paths (``models.yolo.DetectionModel``, ``models.common.*``)."""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from yolov9.checkpoints.keymaps import official_key_map
from yolov9.models import YOLOv9

_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@contextlib.contextmanager
def fake_reference_modules() -> Iterator[tuple[type, type]]:
    """Register importable ``models.common.Block`` and ``models.yolo.DetectionModel``."""
    common, yolo, pkg = (types.ModuleType(n) for n in ("models.common", "models.yolo", "models"))
    block = type("Block", (nn.Module,), {"__module__": "models.common"})
    root = type("DetectionModel", (nn.Module,), {"__module__": "models.yolo"})
    common.Block, yolo.DetectionModel = block, root  # type: ignore[attr-defined]
    saved = {n: sys.modules.get(n) for n in ("models", "models.common", "models.yolo")}
    sys.modules.update({"models": pkg, "models.common": common, "models.yolo": yolo})
    try:
        yield block, root
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def module_tree(state: dict[str, Tensor], block: type, root_cls: type) -> nn.Module:
    root = root_cls()
    for key, value in state.items():
        *path, leaf = key.split(".")
        node = root
        for part in path:
            if part not in node._modules:
                node.add_module(part, block())
            node = node._modules[part]
        if leaf in _BUFFERS:
            node.register_buffer(leaf, value)
        else:
            node.register_parameter(leaf, nn.Parameter(value, requires_grad=False))
    return root


def official_state(model: YOLOv9, half: bool = True) -> dict[str, Tensor]:
    kmap = official_key_map(model, model.spec, model.aux is not None)
    return {
        kmap[k]: (v.half() if half and v.is_floating_point() else v).clone()
        for k, v in model.state_dict().items()
    }


def write_official(path: Path, model: YOLOv9, names: list[str], *, as_ema: bool = False) -> Path:
    """Save ``model`` as the authors' training code would (fp16 whole-module pickle)."""
    with fake_reference_modules() as (block, root_cls):
        tree = module_tree(official_state(model), block, root_cls)
        tree.names = names
        tree.yaml = {"nc": model.num_classes}
        ckpt = {
            "model": tree,
            "optimizer": None,
            "best_fitness": None,
            "ema": None,
            "updates": None,
            "opt": None,
            "git": None,
            "date": None,
            "epoch": -1,
        }
        if as_ema:
            ckpt["ema"], ckpt["model"] = tree, None
        torch.save(ckpt, path)
    return path
