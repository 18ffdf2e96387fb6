"""The training configuration: one schema of frozen dataclasses, resolved once at the entry point.

Sources, later ones winning: the defaults below (the paper's recipe), a YAML file
(``--config``), named values (command-line flags or keyword arguments of the Python API), and
``--set section.key=value`` overrides. Unknown keys are rejected with their name, values read
from text are coerced to the field's type, and every value is checked (range, or one of the
allowed choices) whenever a config is built, ``TrainConfig(...)`` included. Configs are
immutable: :meth:`TrainConfig.with_values` returns a new one (the recipe and a resumed run's
command line change a config that way). The resolved config is saved with every run and
checkpoint.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from yolov9.data.augment import AugmentConfig
from yolov9.errors import ConfigError

__all__ = [
    "FLAG_KEYS",
    "AugmentConfig",
    "DataConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "from_dict",
    "parse_override",
    "resolve",
]


@dataclass(frozen=True)
class ModelConfig:
    name: str = "yolov9-t"  # yolov9-t ... yolov9-e (with PGI) or gelan-t ... gelan-e
    weights: str | None = None  # start from a checkpoint (any supported format)
    aux: str = "pgi"  # pgi | deep-supervision | none (the paper's ablation)
    recompute: str = "none"  # activation checkpointing: none | highres | all (less memory)
    vocab: int = 1000  # caption models: the most token ids learnt from the training captions
    caption_attention_dropout: float = 0.1  # caption models: dropout of the attention weights


@dataclass(frozen=True)
class DataConfig:
    data: str = ""  # dataset YAML, COCO JSON or folder
    imgsz: int = 640
    batch: int = 16  # total over all processes
    workers: int = -1  # data-loading processes; -1: auto (0 on <= 2 cores)
    val_batch: int = 32
    cache: str = "auto"  # ram | none | auto (ram when the resized images take < 2 GiB)


@dataclass(frozen=True)
class OptimConfig:
    optimizer: str = "sgd"  # sgd (Nesterov) | adamw
    lr0: float = 0.01
    lrf: float = 0.01  # final learning rate = lr0 * lrf
    momentum: float = 0.937  # SGD momentum / Adam beta1
    weight_decay: float = 0.0005  # scaled by batch * accumulate / nominal_batch
    nominal_batch: int = 64  # gradients are accumulated up to this batch size
    warmup_epochs: float = 3.0
    warmup_min_iters: int = 100  # the reference's floor on warm-up iterations (0: none)
    warmup_momentum: float = 0.8
    warmup_bias_lr: float = 0.1  # biases start at this LR and fall to lr0 during warm-up
    schedule: str = "linear"  # linear | cosine | flat-cosine | fixed
    grad_clip: float = 10.0
    # caption models: the reference's schedule, a language step (plain images, caption term)
    # and a vision step (mosaic images, box terms) per batch, the caption head in an
    # optimiser of its own at language_lr x lr0; off: one step, one optimiser, every term;
    # auto: on for caption models whose data has boxes (measured: docs/benchmarks.md)
    language_step: str = "auto"  # auto | on | off
    language_lr: float = 0.5


@dataclass(frozen=True)
class LossConfig:
    box: float = 7.5
    cls: float = 0.5
    dfl: float = 1.5
    seg: float = 2.5  # segmentation models' mask term (divided by the batch size)
    caption: float = 1.0  # caption models' cross-entropy term
    caption_smoothing: float = 0.1  # label smoothing of the caption cross-entropy
    aux_weight: float = 0.25
    topk: int = 10
    alpha: float = 0.5
    beta: float = 6.0
    resolve_among_candidates: bool = False


@dataclass(frozen=True)
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
    patience: int = 100  # stop after this many epochs without a better AP (0: never)
    val_every: int = 1  # validate every N epochs (and always after the last)
    device: str = "auto"
    sync_bn: bool = False
    out: str = "runs/train"
    exist_ok: bool = False
    recipe: str = "auto"  # auto (paper for long schedules, short otherwise) | paper | short
    explicit: tuple[str, ...] = ()  # keys the user set (recipes keep them)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["explicit"] = list(self.explicit)
        return d

    def with_values(
        self, values: Mapping[str, Any], *, explicit: bool = False, flags: bool = True
    ) -> TrainConfig:
        """A new config with ``values`` (``{"optim.lr0": 0.002}``, flag names such as
        ``{"epochs": 80}`` unless ``flags=False``, as for ``--set``) coerced and checked;
        ``explicit`` records them as the user's."""
        merged = self.to_dict()
        given: dict[str, Any] = {}
        for key, value in values.items():
            _merge(given, _nest(expand_key(key, value) if flags else key, value))
        _merge(merged, given)
        if explicit:
            merged["explicit"] = sorted(set(self.explicit) | set(_flat_keys(given)))
        return from_dict(merged)


# Names of command-line flags and Python API keywords, and the config keys they set.
FLAG_KEYS: dict[str, str] = {
    "model": "model.name",
    "weights": "model.weights",
    "aux": "model.aux",
    "recompute": "model.recompute",
    "data": "data.data",
    "imgsz": "data.imgsz",
    "batch": "data.batch",
    "workers": "data.workers",
    "cache": "data.cache",
    "optimizer": "optim.optimizer",
    "lr0": "optim.lr0",
    "schedule": "optim.schedule",
    "close_mosaic": "augment.close_mosaic",
}

# how inference can run (predict, val, export checks); training adds "auto"
INFERENCE_PRECISIONS = ("fp32", "fp16", "bf16")

# the values a key may take (the CLI offers them as choices)
CHOICES: dict[str, tuple[str, ...]] = {
    "model.aux": ("pgi", "deep-supervision", "none"),
    "model.recompute": ("none", "highres", "all"),
    "optim.optimizer": ("sgd", "adamw"),
    "optim.schedule": ("linear", "cosine", "flat-cosine", "fixed"),
    "optim.language_step": ("auto", "on", "off"),
    "precision": ("auto", *INFERENCE_PRECISIONS),
    "recipe": ("auto", "paper", "short"),
    "data.cache": ("auto", "ram", "none"),
}


def expand_key(key: str, value: Any = None) -> str:
    """A flag name (``batch``) -> its config key (``data.batch``); config keys, and section
    names given a mapping of their keys (``data={"imgsz": 64}``), unchanged."""
    return key if isinstance(value, Mapping) else FLAG_KEYS.get(key, key)


def _coerce(value: Any, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(str(v) for v in value)
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
            if isinstance(value, bool) and key in CHOICES and "on" in CHOICES[key]:
                return "on" if value else "off"  # YAML 1.1 reads on / off as booleans
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: {value!r} is not a valid {kind.__name__}") from None
    return value


def _build(cls: Any, values: Mapping[str, Any], prefix: str = "") -> Any:
    """An instance of the dataclass ``cls`` from (partial) nested ``values``."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key {path!r}; known: {sorted(names)}")
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{path!r} is a section; give its keys, e.g. {path}.x=...")
            kwargs[key] = _build(kind, value, f"{path}.")
            continue
        kwargs[key] = _coerce(value, kind, path)
    return cls(**kwargs)


def parse_override(text: str) -> dict[str, Any]:
    """``"optim.lr0=0.001"`` -> ``{"optim": {"lr0": "0.001"}}`` (coerced when applied)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, value = text.split("=", 1)
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as e:
        why = " ".join(str(getattr(e, "problem", None) or e).split())
        raise ConfigError(f"override {text!r}: the value is not valid YAML ({why})") from None
    return _nest(key.strip(), parsed)


def resolve(
    yaml_file: str | Path | None = None,
    overrides: Iterable[str] = (),
    **values: Any,
) -> TrainConfig:
    """Defaults <- YAML file <- ``values`` (flag names or ``{"optim.lr0": 0.01}``; ``None``
    means not set) <- ``--set`` overrides. Every key given is recorded as explicit."""
    merged: dict[str, Any] = {}
    explicit: set[str] = set()
    if yaml_file:
        try:
            loaded = yaml.safe_load(Path(yaml_file).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{yaml_file}: cannot read config ({e})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{yaml_file}: expected a mapping of sections")
        _merge(merged, loaded)
        explicit |= set(_flat_keys(loaded))
    for key, value in values.items():
        if value is not None:
            key = expand_key(key, value)
            _merge(merged, _nest(key, value))
            explicit |= set(_flat_keys(_nest(key, value)))
    for text in overrides:
        parsed = parse_override(text)
        _merge(merged, parsed)
        explicit |= set(_flat_keys(parsed))
    given = merged.pop("explicit", ())
    merged["explicit"] = sorted(explicit | set(given if isinstance(given, list) else ()))
    return from_dict(merged)


def from_dict(values: Mapping[str, Any]) -> TrainConfig:
    """A config from nested values (e.g. a saved ``config.yaml``); missing keys keep defaults.

    Raises:
        ConfigError: an unknown key, a value of the wrong type, or a value out of range.
    """
    cfg: TrainConfig = _build(TrainConfig, values)
    return cfg


def _merge(into: dict[str, Any], values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = dict(value) if isinstance(value, Mapping) else value


def _flat_keys(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in values.items():
        if isinstance(value, Mapping):
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


def _ranges(cfg: TrainConfig) -> list[tuple[bool, str, str]]:
    d, a, o, lo, m = cfg.data, cfg.augment, cfg.optim, cfg.loss, cfg.model
    checks = [
        (cfg.epochs >= 1, "epochs", "must be >= 1"),
        (cfg.patience >= 0, "patience", "must be >= 0 (0: never stop early)"),
        (cfg.val_every >= 1, "val_every", "must be >= 1 (validate every N epochs)"),
        (0 <= cfg.ema_decay < 1, "ema_decay", "must be in [0, 1)"),
        (cfg.ema_tau > 0, "ema_tau", "must be > 0"),
        (d.imgsz >= 32 and d.imgsz % 32 == 0, "data.imgsz", "must be a multiple of 32"),
        (d.batch >= 1, "data.batch", "must be >= 1"),
        (d.val_batch >= 1, "data.val_batch", "must be >= 1"),
        (d.workers >= -1, "data.workers", "must be >= 0, or -1 for automatic"),
        (0 <= a.degrees <= 180, "augment.degrees", "must be in [0, 180]"),
        (0 <= a.translate < 1, "augment.translate", "must be in [0, 1)"),
        (0 <= a.scale < 1, "augment.scale", "must be in [0, 1)"),
        (0 <= a.shear < 90, "augment.shear", "must be in [0, 90)"),
        (0 <= a.perspective <= 0.001, "augment.perspective", "must be in [0, 0.001]"),
        (a.close_mosaic >= 0, "augment.close_mosaic", "must be >= 0"),
        (o.lr0 > 0, "optim.lr0", "must be > 0"),
        (0 < o.lrf <= 1, "optim.lrf", "must be in (0, 1]"),
        (0 <= o.momentum < 1, "optim.momentum", "must be in [0, 1)"),
        (o.weight_decay >= 0, "optim.weight_decay", "must be >= 0"),
        (o.nominal_batch >= 1, "optim.nominal_batch", "must be >= 1"),
        (o.warmup_epochs >= 0, "optim.warmup_epochs", "must be >= 0"),
        (o.warmup_min_iters >= 0, "optim.warmup_min_iters", "must be >= 0"),
        (0 <= o.warmup_momentum < 1, "optim.warmup_momentum", "must be in [0, 1)"),
        (o.warmup_bias_lr >= 0, "optim.warmup_bias_lr", "must be >= 0"),
        (o.grad_clip > 0, "optim.grad_clip", "must be > 0"),
        (lo.aux_weight >= 0, "loss.aux_weight", "must be >= 0"),
        (lo.topk >= 1, "loss.topk", "must be >= 1"),
        (lo.alpha >= 0 and lo.beta >= 0, "loss.alpha/loss.beta", "must be >= 0"),
    ]
    checks += [
        (getattr(lo, k) >= 0, f"loss.{k}", "is a gain and must be >= 0")
        for k in ("box", "cls", "dfl", "seg", "caption")
    ]
    checks += [
        (0 <= lo.caption_smoothing < 1, "loss.caption_smoothing", "must be in [0, 1)"),
        (m.vocab >= 8, "model.vocab", "must be >= 8 (a caption vocabulary)"),
        (
            0 <= m.caption_attention_dropout < 1,
            "model.caption_attention_dropout",
            "must be in [0, 1)",
        ),
        (o.language_lr > 0, "optim.language_lr", "must be > 0"),
    ]
    checks += [
        (0 <= getattr(a, k) <= 1, f"augment.{k}", "is a probability and must be in [0, 1]")
        for k in ("mosaic", "mixup", "copy_paste", "fliplr", "flipud")
    ]
    checks += [
        (0 <= getattr(a, k) <= 1, f"augment.{k}", "is a gain and must be in [0, 1]")
        for k in ("hsv_h", "hsv_s", "hsv_v")
    ]
    return checks


def validate(cfg: TrainConfig) -> None:
    """Range and choice checks that name the key (run whenever a config is built)."""
    for key, allowed in CHOICES.items():
        value = cfg
        for part in key.split("."):
            value = getattr(value, part)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {allowed}")
    for ok, key, message in _ranges(cfg):
        if not ok:
            raise ConfigError(f"{key} {message}")
