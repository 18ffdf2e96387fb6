"""Training curves stay readable when one loss value dwarfs the rest."""

from __future__ import annotations

import matplotlib.pyplot as plt

from yolov9.utils.plots import results_figure


def _rows(cls_val: list[str]) -> list[dict[str, str]]:
    rows = []
    for epoch, val in enumerate(cls_val):
        row = {"epoch": str(epoch), "AP": "0.5" if val else ""}
        for term in ("box", "cls", "dfl"):
            row[f"train/main/{term}"] = str(3.0 - 0.2 * epoch)
            row[f"val/main/{term}"] = val if (term == "cls" and val) else ("2.5" if val else "")
        rows.append(row)
    return rows


def test_a_spike_puts_the_loss_panel_on_a_log_axis() -> None:
    """The demo's validation cls loss was 430 at epoch 6 and ~3 afterwards: on a linear axis
    every other point lay on the floor of the panel."""
    fig = results_figure(_rows(["", "430", "", "2.8", "", "2.5"]))
    box, cls, dfl, _ = fig.axes
    assert cls.get_yscale() == "log"
    assert box.get_yscale() == dfl.get_yscale() == "linear"
    plt.close(fig)
    fig = results_figure(_rows(["", "4.0", "", "2.8", "", "2.5"]))
    assert fig.axes[1].get_yscale() == "linear"
    plt.close(fig)
