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


def test_a_caption_run_gets_its_loss_panel_and_scores() -> None:
    rows = []
    for epoch in range(4):
        row = {"epoch": str(epoch)}
        for term in ("box", "cls", "dfl", "caption"):
            row[f"train/main/{term}"] = str(3.0 - 0.2 * epoch)
        for key in ("BLEU-1", "BLEU-4", "CIDEr-D"):
            row[key] = str(0.2 * epoch) if epoch % 2 else ""
        rows.append(row)
    fig = results_figure(rows)
    *_, caption, scores = fig.axes
    assert caption.get_title() == "caption loss (per head, unweighted)"
    assert [ln.get_label() for ln in caption.get_lines()] == ["train main"]
    assert scores.get_title() == "validation CIDEr-D, BLEU (EMA model)"
    lines = {ln.get_label(): list(ln.get_xdata()) for ln in scores.get_lines()}
    assert lines == {"BLEU-1": [2, 4], "BLEU-4": [2, 4], "CIDEr-D": [2, 4]}
    plt.close(fig)
