"""The config schema: overrides, coercion, unknown keys, YAML round trip, range checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from yolov9.config import TrainConfig, from_dict, parse_override, resolve
from yolov9.errors import ConfigError


def test_defaults_are_the_paper_recipe() -> None:
    c = TrainConfig()
    assert (c.optim.lr0, c.optim.lrf, c.optim.momentum, c.optim.weight_decay) == (
        0.01,
        0.01,
        0.937,
        5e-4,
    )
    assert (c.loss.box, c.loss.cls, c.loss.dfl, c.loss.aux_weight) == (7.5, 0.5, 1.5, 0.25)
    assert (c.augment.mosaic, c.augment.mixup, c.augment.scale, c.augment.close_mosaic) == (
        1.0,
        0.15,
        0.9,
        15,
    )
    assert (c.ema_decay, c.optim.nominal_batch, c.optim.grad_clip) == (0.9999, 64, 10.0)


def test_sources_in_order(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"optim": {"lr0": 0.02, "schedule": "cosine"}, "epochs": 30}))
    cfg = resolve(path, ["optim.lr0=0.005", "augment.mixup=0"], **{"epochs": 40, "data.batch": 8})
    assert (cfg.optim.lr0, cfg.optim.schedule, cfg.epochs, cfg.data.batch) == (
        0.005,
        "cosine",
        40,
        8,
    )
    assert cfg.augment.mixup == 0.0


def test_coercion() -> None:
    cfg = resolve(None, ["epochs=7", "loss.resolve_among_candidates=true", "model.weights=none"])
    assert cfg.epochs == 7
    assert cfg.loss.resolve_among_candidates is True
    assert cfg.model.weights is None
    assert parse_override("a.b.c=1.5") == {"a": {"b": {"c": 1.5}}}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=1", "unknown config key 'optim.lr'"),
        ("optim.lr0=abc", "optim.lr0: 'abc'"),
        ("epochs=1.5", "epochs: 1.5"),
        ("model.aux=maybe", "model.aux"),
        ("optim=3", "a section"),
        ("augment.mosaic=2", "augment.mosaic is a probability"),
        ("data.imgsz=100", "data.imgsz"),
        ("noequals", "section.key=value"),
    ],
)
def test_errors_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(None, [override])


def test_yaml_round_trip() -> None:
    cfg = resolve(None, ["optim.optimizer=adamw", "augment.hsv_h=0.0"])
    again = from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict())))
    assert again == cfg


def test_configs_are_immutable_and_with_values_checks() -> None:
    import dataclasses

    cfg = resolve(None, [], epochs=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.optim.lr0 = 1.0  # type: ignore[misc]
    changed = cfg.with_values({"batch": 8, "optim.lrf": 0.5}, explicit=True)
    assert (changed.data.batch, changed.optim.lrf, cfg.data.batch) == (8, 0.5, 16)
    assert {"data.batch", "optim.lrf", "epochs"} <= set(changed.explicit)
    with pytest.raises(ConfigError, match=r"data\.val_batch must be >= 1"):
        cfg.with_values({"data.val_batch": 0})
    with pytest.raises(ConfigError, match=r"unknown config key 'optim\.lr'"):
        cfg.with_values({"optim.lr": 0.1})


def test_flag_names_and_sections_resolve_alike() -> None:
    by_flag = resolve(None, [], model="gelan-t", data="d.yaml", batch=4, imgsz=320, lr0=0.02)
    by_key = resolve(
        None,
        [],
        **{"model.name": "gelan-t", "data": {"data": "d.yaml", "batch": 4, "imgsz": 320}},
        **{"optim.lr0": 0.02},
    )
    assert by_flag == by_key


def test_on_and_off_stay_words_where_a_setting_takes_them() -> None:
    """YAML 1.1 reads on / off as booleans: a setting whose choices are words keeps them."""
    for text, word in (("on", "on"), ("off", "off"), ("true", "on"), ("auto", "auto")):
        assert resolve(None, [f"optim.language_step={text}"]).optim.language_step == word
    with pytest.raises(ConfigError, match=r"optim\.language_step: 'sometimes' is not one of"):
        resolve(None, ["optim.language_step=sometimes"])
