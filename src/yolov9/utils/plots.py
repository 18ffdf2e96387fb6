"""Plots written into run folders: PR curves, confusion matrices, example predictions."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from yolov9.utils.draw import draw_detections


def plot_pr_curves(precision: np.ndarray, names: Sequence[str], path: Path) -> Path:
    """Precision-recall at IoU 0.5 per class (thin) and their mean (bold), from COCOeval's
    ``precision`` array (T, R, K, A, M)."""
    recall = np.linspace(0, 1, precision.shape[1])
    fig, ax = plt.subplots(figsize=(7, 6), dpi=120)
    curves = []
    for k, name in enumerate(names):
        p = precision[0, :, k, 0, -1]
        if (p > -1).any():
            p = np.clip(p, 0, 1)
            curves.append(p)
            label = f"{name} {p.mean():.3f}" if len(names) <= 20 else None
            ax.plot(recall, p, linewidth=0.8, label=label)
    if curves:
        mean = np.mean(curves, 0)
        ax.plot(
            recall, mean, color="black", linewidth=2.5, label=f"all classes {mean.mean():.3f} AP50"
        )
    ax.set(
        xlabel="Recall",
        ylabel="Precision",
        xlim=(0, 1),
        ylim=(0, 1.01),
        title="Precision-recall, IoU 0.5",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion_matrix(matrix: np.ndarray, names: Sequence[str], path: Path) -> Path:
    """Column-normalised confusion matrix (columns: true class; last row/column background)."""
    labels = [*names, "background"]
    norm = matrix / np.maximum(matrix.sum(0, keepdims=True), 1)
    n = len(labels)
    size = min(4 + n * 0.35, 24)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=100)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ticks = range(n) if n <= 40 else []
    ax.set_xticks(list(ticks), [labels[i] for i in ticks], rotation=90, fontsize=7)
    ax.set_yticks(list(ticks), [labels[i] for i in ticks], fontsize=7)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if matrix[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{norm[i, j]:.2f}",
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
    ax.set(xlabel="True", ylabel="Predicted", title="Confusion matrix (column-normalised)")
    fig.colorbar(im, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_examples(
    examples: Sequence[tuple[np.ndarray, tuple, tuple]],
    names: Sequence[str],
    path: Path,
    height: int = 320,
) -> Path:
    """Rows of (ground truth | prediction) pairs. Each example is
    (image RGB, (gt boxes, gt classes[, gt masks]), (pred boxes, scores, classes[, masks])),
    masks (N, H, W) bool or None."""
    rows = []
    for image, gt, pred in examples:
        gb, gc, gm = (*gt, None)[:3]
        pb, ps, pc, pm = (*pred, None)[:4]
        left = draw_detections(image, gb, None, gc, names, masks=gm)
        right = draw_detections(image, pb, ps, pc, names, masks=pm)
        pair = np.concatenate([left, np.full((image.shape[0], 8, 3), 255, np.uint8), right], 1)
        scale = height / pair.shape[0]
        rows.append(cv2.resize(pair, (round(pair.shape[1] * scale), height)))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 8), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(str(path), cv2.cvtColor(np.concatenate(rows), cv2.COLOR_RGB2BGR))
    return path


LOSS_PANELS = ("box", "cls", "dfl")  # and "seg" for segmentation runs
_SERIES = (  # (key pattern, label, line style): every loss per head, unweighted
    ("train/main/{}", "train main", "-"),
    ("val/main/{}", "val main", "-"),
    ("train/aux/{}", "train aux", "--"),
    ("val/aux/{}", "val aux", "--"),
)


def _series(rows: Sequence[dict[str, str]], key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of the rows where ``key`` has a finite value: an epoch without
    validation leaves a gap in the x values, not a NaN that would break the line."""
    xs, ys = [], []
    for r in rows:
        text = r.get(key)
        if text not in (None, ""):
            value = float(text)
            if np.isfinite(value):
                xs.append(float(r["epoch"]) + 1)
                ys.append(value)
    return xs, ys


def _spiky(values: Sequence[float]) -> bool:
    """Loss values whose peak is over 20x their median (e.g. an early validation loss of an
    untrained head, 430 against 3): a linear axis would flatten the rest, so plot on a log
    axis (losses are positive)."""
    positive = [v for v in values if v > 0]
    return len(positive) == len(values) > 2 and max(values) > 20 * float(np.median(values))


def results_figure(rows: Sequence[dict[str, str]]) -> Figure:
    """Per-head losses (train and validation on the same, unweighted scale: the criterion's
    ``main/*`` and ``aux/*`` terms) and AP, by epoch (1-based), from ``results.csv`` rows.
    Segmentation runs get a mask-loss panel and their mask AP beside the box AP; panoptic
    runs the semantic focal and dice panels and PQ and mIoU too; caption runs a caption-loss
    panel (the main head's: the auxiliary head has none) and BLEU and CIDEr-D instead of AP."""
    segment = bool(rows) and "train/main/seg" in rows[0]
    panoptic = bool(rows) and "train/main/focal" in rows[0]
    panels = (*LOSS_PANELS, "seg") if segment else LOSS_PANELS
    if panoptic:
        panels = (*panels, "focal", "dice")
    caption = bool(rows) and "train/main/caption" in rows[0]
    if caption:
        panels = (*panels, "caption")
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4.2 * (len(panels) + 1), 3.6), dpi=110)
    for ax, term in zip(axes[:-1], panels, strict=True):
        colors = iter(("tab:blue", "tab:orange", "tab:blue", "tab:orange"))
        values: list[float] = []
        for pattern, label, style in _SERIES:
            xs, ys = _series(rows, pattern.format(term))
            color = next(colors)
            if xs:
                ax.plot(
                    xs, ys, style, color=color, marker="." if len(xs) < 30 else None, label=label
                )
                values += ys
        ax.set(title=f"{term} loss (per head, unweighted)", xlabel="epoch")
        if _spiky(values):
            ax.set_yscale("log")
    for prefix, style in (("", "-"), ("mask/", "--")):
        for key in ("AP", "AP50", "AP75"):
            xs, ys = _series(rows, prefix + key)
            label = (prefix or "box/") + key if segment else key
            if xs:
                axes[-1].plot(xs, ys, style, marker="." if len(xs) < 30 else None, label=label)
    for key in ("PQ", "mIoU"):
        xs, ys = _series(rows, key)
        if xs:
            axes[-1].plot(xs, ys, "-", lw=2.5, marker="." if len(xs) < 30 else None, label=key)
    for key in ("BLEU-1", "BLEU-4", "CIDEr-D"):
        xs, ys = _series(rows, key)
        if xs:
            lw = 2.5 if key == "CIDEr-D" else 1.5
            axes[-1].plot(xs, ys, "-", lw=lw, marker="." if len(xs) < 30 else None, label=key)
    title = "validation PQ, mIoU, AP" if panoptic else "validation AP"
    title = "validation CIDEr-D, BLEU" if caption else title
    axes[-1].set(title=f"{title} (EMA model)", xlabel="epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_results(csv_path: Path, path: Path) -> Path:
    """``results.png`` from ``results.csv`` (see :func:`results_figure`)."""
    import csv

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return path
    fig = results_figure(rows)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_labels(
    boxes_xywhn: np.ndarray, classes: np.ndarray, names: Sequence[str], path: Path
) -> Path:
    """Label statistics: instances per class, box centres and box sizes (normalised)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), dpi=110)
    counts = np.bincount(classes, minlength=len(names))
    axes[0].bar(range(len(names)), counts, color="tab:blue")
    if len(names) <= 30:
        axes[0].set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    axes[0].set(title=f"{int(counts.sum())} boxes", ylabel="instances")
    if len(boxes_xywhn):
        axes[1].hist2d(
            boxes_xywhn[:, 0], boxes_xywhn[:, 1], bins=40, range=[[0, 1], [0, 1]], cmap="Blues"
        )
        axes[2].hist2d(
            boxes_xywhn[:, 2], boxes_xywhn[:, 3], bins=40, range=[[0, 1], [0, 1]], cmap="Blues"
        )
    axes[1].set(title="box centres", xlabel="x", ylabel="y")
    axes[1].invert_yaxis()
    axes[2].set(title="box sizes", xlabel="width", ylabel="height")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
