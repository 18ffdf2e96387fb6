"""Recipe choice: paper for long schedules, short-schedule recipe otherwise, user wins."""

from __future__ import annotations

import pytest

from yolov9.config import resolve
from yolov9.recipes import apply_recipe, choose_recipe, optimizer_steps, run_warnings


def test_long_schedules_keep_the_paper_recipe() -> None:
    cfg = resolve(None, [], epochs=500, **{"data.batch": 16})
    assert optimizer_steps(cfg, 118_287) == 924_125  # ceil(500 epochs * 7393 batches / 4)
    choice = choose_recipe(cfg, 118_287, 80)
    assert choice.name == "paper"
    assert choice.values == {}


def test_short_schedules_switch_and_say_why() -> None:
    cfg = resolve(None, [], epochs=30, **{"data.batch": 16})
    choice = choose_recipe(cfg, 320, 4)
    assert choice.name == "short"
    assert "150 optimiser steps" in choice.line()
    assert choice.values["optim.optimizer"] == "adamw"
    apply_recipe(cfg, choice)
    assert (cfg.optim.optimizer, cfg.optim.nominal_batch, cfg.augment.mixup) == ("adamw", 16, 0.0)
    assert cfg.recipe == "short"  # concrete: a resumed run does not choose again


def test_user_settings_win_and_paper_is_exact() -> None:
    cfg = resolve(None, ["augment.mixup=0.3"], epochs=30, **{"optim.lr0": 0.0005})
    apply_recipe(cfg, choose_recipe(cfg, 320, 4))
    assert cfg.augment.mixup == 0.3
    assert cfg.optim.lr0 == 0.0005
    assert cfg.optim.optimizer == "adamw"
    paper = resolve(None, [], epochs=30, recipe="paper")
    apply_recipe(paper, choose_recipe(paper, 320, 4))
    untouched = resolve(None, [], epochs=30, recipe="paper").to_dict()
    assert paper.to_dict() == untouched


@pytest.mark.parametrize(
    ("kw", "sides", "counts", "expected"),
    [
        ({"recipe": "paper", "epochs": 30}, [40.0] * 10, [5, 5], "paper's recipe"),
        ({"epochs": 1, "data.batch": 64}, [40.0] * 10, [5, 5], "only 5 optimiser steps"),
        ({"epochs": 30}, [40.0] * 10, [5, 0], "1 of 2 classes have no training box"),
        ({"epochs": 30}, [4.0] * 10, [5, 5], "use a larger --imgsz"),
    ],
)
def test_warnings(kw: dict, sides: list, counts: list, expected: str) -> None:
    cfg = resolve(None, [], **kw)
    warnings = run_warnings(cfg, 320, sides, counts, ["a", "b"])
    assert any(expected in w for w in warnings), warnings


def test_no_warning_for_a_reasonable_run() -> None:
    cfg = resolve(None, [], epochs=50)
    apply_recipe(cfg, choose_recipe(cfg, 320, 2))
    assert run_warnings(cfg, 320, [40.0] * 10, [5, 5], ["a", "b"]) == []
