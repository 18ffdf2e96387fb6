"""Augmentation strengths: the one description of the training augmentations.

The training config's ``augment`` section is this dataclass, and the training dataset takes it
as it is (no copying of fields between two schemas). Defaults are the paper's
``hyp.scratch-high``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AugmentConfig:
    hsv_h: float = 0.015  # hue gain (fraction of the hue circle)
    hsv_s: float = 0.7  # saturation gain
    hsv_v: float = 0.4  # value gain
    degrees: float = 0.0  # rotation, +/- degrees
    translate: float = 0.1  # translation, +/- fraction of the image
    scale: float = 0.9  # scale gain: 1 +/- scale
    shear: float = 0.0  # shear, +/- degrees
    perspective: float = 0.0  # perspective, +/- fraction (0 ... 0.001)
    flipud: float = 0.0  # probabilities from here on
    fliplr: float = 0.5
    mosaic: float = 1.0
    mixup: float = 0.15
    copy_paste: float = 0.3
    close_mosaic: int = 15  # mosaic off for the last N epochs (the trainer switches it)
