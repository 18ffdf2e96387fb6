"""Training hooks: the curves are drawn when they change in a way worth a picture."""

from __future__ import annotations

from pathlib import Path

import pytest

from yolov9.engine.hooks import PlotHook


def test_plot_after_validated_epochs_after_a_while_and_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[Path] = []
    monkeypatch.setattr("yolov9.utils.plots.plot_results", lambda csv, png: drawn.append(png))
    (tmp_path / "results.csv").write_text("epoch\n0\n")
    hook = PlotHook(tmp_path, every=3600)
    hook.on_epoch_end({"epoch": 0})  # the first epoch: a picture as soon as there is a row
    hook.on_epoch_end({"epoch": 1})  # neither validated nor an hour later: none
    hook.on_epoch_end({"epoch": 2, "AP": 0.5})  # validated
    hook.on_train_end({})
    assert drawn == [tmp_path / "results.png"] * 3
    hook.every = 0.0  # an epoch that ends `every` seconds after the last plot is drawn
    hook.on_epoch_end({"epoch": 3})
    assert len(drawn) == 4
