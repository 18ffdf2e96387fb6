"""Recipe choice: paper for long schedules, short-schedule recipe otherwise, user wins."""

from __future__ import annotations

import pytest

from yolov9.config import resolve
from yolov9.engine.recipes import apply_recipe, choose_recipe, optimizer_steps, run_warnings


def test_long_schedules_keep_the_paper_recipe() -> None:
    cfg = resolve(None, [], epochs=500, **{"data.batch": 16})
    assert optimizer_steps(cfg, 118_287) == 924_125  # ceil(500 epochs * 7393 batches / 4)
    choice = choose_recipe(cfg, 118_287)
    assert choice.name == "paper"
    assert choice.values == {}


def test_short_schedules_switch_and_say_why() -> None:
    cfg = resolve(None, [], epochs=30, **{"data.batch": 16})
    choice = choose_recipe(cfg, 320)
    assert choice.name == "short"
    assert "150 optimiser steps" in choice.line()
    assert choice.values["optim.optimizer"] == "adamw"
    chosen = apply_recipe(cfg, choice)
    assert (chosen.optim.optimizer, chosen.optim.nominal_batch, chosen.augment.mixup) == (
        "adamw",
        16,
        0.0,
    )
    assert chosen.recipe == "short"  # concrete: a resumed run does not choose again
    assert cfg.recipe == "auto"  # configs are immutable: the recipe made a new one


def test_user_settings_win_and_paper_is_exact() -> None:
    cfg = resolve(None, ["augment.mixup=0.3"], epochs=30, **{"optim.lr0": 0.0005})
    cfg = apply_recipe(cfg, choose_recipe(cfg, 320))
    assert cfg.augment.mixup == 0.3
    assert cfg.optim.lr0 == 0.0005
    assert cfg.optim.optimizer == "adamw"
    paper = resolve(None, [], epochs=30, recipe="paper")
    paper = apply_recipe(paper, choose_recipe(paper, 320))
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
    cfg = apply_recipe(cfg, choose_recipe(cfg, 320))
    assert run_warnings(cfg, 320, [40.0] * 10, [5, 5], ["a", "b"]) == []


def test_short_recipe_warms_up_for_the_documented_epochs() -> None:
    """Bug: the reference's 100-iteration floor made the demo (10 batches per epoch) warm up
    for 10 of its 30 epochs; the short recipe's warm-up is a sixth of the run (1-5 epochs)."""
    from yolov9.engine.optim import apply_warmup, build_optimizer, warmup_iterations
    from yolov9.models import build_model

    for epochs, expected in ((30, 5), (3, 1), (12, 2), (200, 5)):
        cfg = resolve(None, [], epochs=epochs, batch=16)
        cfg = apply_recipe(cfg, choose_recipe(cfg, 160))
        assert cfg.optim.warmup_epochs == expected
        o = cfg.optim
        assert warmup_iterations(o.warmup_epochs, 10, o.warmup_min_iters) == 10 * expected
    paper = resolve(None, [], epochs=30, recipe="paper")
    assert warmup_iterations(paper.optim.warmup_epochs, 10, paper.optim.warmup_min_iters) == 100
    # biases fall from the paper's 0.1 to AdamW's rate, the other groups rise from 0 to it
    opt = build_optimizer(build_model("gelan-t", 2), o.optimizer, o.lr0, o.momentum, 0.0)
    kw = {"bias_lr": o.warmup_bias_lr, "momentum": (0.8, 0.9), "accumulate": (1, 1)}
    apply_warmup(opt, 0, 50, 1.0, **kw)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.0, 0.0]
    apply_warmup(opt, 50, 50, 1.0, **kw)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([o.lr0] * 3)
