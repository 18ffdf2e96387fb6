"""The training configuration: one schema of dataclasses, resolved once at the entry point.

Sources, later ones winning: the defaults below (the paper's recipe), a YAML file
(``--config``), command-line flags, and ``--set section.key=value`` overrides. Unknown keys
are rejected with their name; values are coerced to the field's type. The resolved config is
saved with every run and checkpoint.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from yolov9.errors import ConfigError


@dataclass
class ModelConfig:
    name: str = "yolov9-t"  # yolov9-t ... yolov9-e (with PGI) or gelan-t ... gelan-e
    weights: str | None = None  # start from a checkpoint (any supported format)
    aux: str = "pgi"  # pgi | deep-supervision | none (the paper's ablation)


@dataclass
class DataConfig:
    data: str = ""  # dataset YAML, COCO JSON or folder
    imgsz: int = 640
    batch: int = 16  # total over all processes
    workers: int = -1  # data-loading processes; -1: auto (0 on <= 2 cores)
    val_batch: int = 32
    cache: str = "auto"  # ram | none | auto (ram when the resized images take < 2 GiB)


@dataclass
class AugmentConfig:
    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.9
    shear: float = 0.0
    perspective: float = 0.0
    flipud: float = 0.0
    fliplr: float = 0.5
    mosaic: float = 1.0
    mixup: float = 0.15
    copy_paste: float = 0.3
    close_mosaic: int = 15  # mosaic off for the last N epochs


@dataclass
class OptimConfig:
    optimizer: str = "sgd"  # sgd (Nesterov) | adamw
    lr0: float = 0.01
    lrf: float = 0.01  # final learning rate = lr0 * lrf
    momentum: float = 0.937  # SGD momentum / Adam beta1
    weight_decay: float = 0.0005  # scaled by batch * accumulate / nominal_batch
    nominal_batch: int = 64  # gradients are accumulated up to this batch size
    warmup_epochs: float = 3.0
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1
    schedule: str = "linear"  # linear | cosine | flat-cosine | fixed
    grad_clip: float = 10.0


@dataclass
class LossConfig:
    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5
    aux_weight: float = 0.25
    topk: int = 10
    alpha: float = 0.5
    beta: float = 6.0
    resolve_among_candidates: bool = False


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    epochs: int = 500
    ema_decay: float = 0.9999
    ema_tau: float = 2000.0
    # auto: fp16 AMP on CUDA, bf16 autocast on CPUs with native bf16, else fp32
    precision: str = "auto"  # auto | fp32 | fp16 | bf16
    seed: int = 0
    deterministic: bool = False
    patience: int = 100  # stop after this many epochs without a better AP
    val_every: int = 1
    device: str = "auto"
    sync_bn: bool = False
    out: str = "runs/train"
    exist_ok: bool = False
    recipe: str = "auto"  # auto (paper for long schedules, short otherwise) | paper | short
    explicit: list[str] = field(default_factory=list)  # keys the user set (recipes keep them)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_ALLOWED = {
    ("model", "aux"): ("pgi", "deep-supervision", "none"),
    ("optim", "optimizer"): ("sgd", "adamw"),
    ("optim", "schedule"): ("linear", "cosine", "flat-cosine", "fixed"),
    ((), "precision"): ("auto", "fp32", "fp16", "bf16"),
    ((), "recipe"): ("auto", "paper", "short"),
    ("data", "cache"): ("auto", "ram", "none"),
}


def _coerce(value: Any, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [str(v) for v in value]
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        kind = options[0]
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float:
            return float(value)
        if kind is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: {value!r} is not a valid {kind.__name__}") from None
    return value


def _apply(obj: Any, values: dict[str, Any], prefix: str = "") -> None:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in fields(obj)}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key {path!r}; known: {sorted(names)}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{path!r} is a section; give its keys, e.g. {path}.x=...")
            _apply(current, value, f"{path}.")
            continue
        coerced = _coerce(value, hints[key], path)
        allowed = _ALLOWED.get((prefix.rstrip(".") or (), key))
        if allowed and coerced not in allowed:
            raise ConfigError(f"{path}: {coerced!r} is not one of {allowed}")
        setattr(obj, key, coerced)


def parse_override(text: str) -> dict[str, Any]:
    """``"optim.lr0=0.001"`` -> ``{"optim": {"lr0": "0.001"}}`` (coerced when applied)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    out: dict[str, Any] = {}
    node = out
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = yaml.safe_load(value) if value.strip() else ""
    return out


def resolve(
    yaml_file: str | Path | None = None,
    overrides: list[str] | None = None,
    **flags: Any,
) -> TrainConfig:
    """Defaults <- YAML file <- ``flags`` (``{"optim.lr0": 0.01}`` or nested) <- overrides."""
    cfg = TrainConfig()
    explicit: set[str] = set()
    if yaml_file:
        try:
            loaded = yaml.safe_load(Path(yaml_file).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{yaml_file}: cannot read config ({e})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{yaml_file}: expected a mapping of sections")
        _apply(cfg, loaded)
        explicit |= set(_flat_keys(loaded))
    for key, value in flags.items():
        if value is not None:
            _apply(cfg, _nest(key, value))
            explicit.add(key)
    for text in overrides or []:
        values = parse_override(text)
        _apply(cfg, values)
        explicit |= set(_flat_keys(values))
    cfg.explicit = sorted(explicit | set(cfg.explicit))
    validate(cfg)
    return cfg


def _flat_keys(values: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        if isinstance(value, dict):
            out += _flat_keys(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def _nest(key: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def from_dict(values: dict[str, Any]) -> TrainConfig:
    cfg = TrainConfig()
    _apply(cfg, values)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Range checks that name the key."""
    checks = [
        (cfg.epochs >= 1, "epochs", "must be >= 1"),
        (
            cfg.data.imgsz >= 32 and cfg.data.imgsz % 32 == 0,
            "data.imgsz",
            "must be a multiple of 32",
        ),
        (cfg.data.batch >= 1, "data.batch", "must be >= 1"),
        (cfg.optim.lr0 > 0, "optim.lr0", "must be > 0"),
        (0 < cfg.optim.lrf <= 1, "optim.lrf", "must be in (0, 1]"),
        (cfg.optim.nominal_batch >= 1, "optim.nominal_batch", "must be >= 1"),
        (0 <= cfg.ema_decay < 1, "ema_decay", "must be in [0, 1)"),
        (cfg.loss.aux_weight >= 0, "loss.aux_weight", "must be >= 0"),
        (cfg.augment.close_mosaic >= 0, "augment.close_mosaic", "must be >= 0"),
    ]
    for ok, key, message in checks:
        if not ok:
            raise ConfigError(f"{key} {message}")
    for key in ("mosaic", "mixup", "copy_paste", "fliplr", "flipud"):
        if not 0 <= getattr(cfg.augment, key) <= 1:
            raise ConfigError(f"augment.{key} is a probability and must be in [0, 1]")
