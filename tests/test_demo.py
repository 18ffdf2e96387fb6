"""The demo's account of its new scene: what the picture shows against the scene's truth."""

from __future__ import annotations

import numpy as np

from yolov9.demo import SETTINGS, scene_report


def test_scene_report_counts_found_misnamed_missed_and_false() -> None:
    truth = np.array([[0, 0, 10, 10], [20, 20, 40, 40], [50, 50, 60, 60], [70, 0, 90, 20]])
    labels = np.array([0, 1, 2, 3])  # circle, square, triangle, star
    pred = np.array(
        [
            [0, 0, 10, 11],  # the circle, as a circle
            [1, 1, 9, 9],  # a second circle on it (IoU 0.64): not a false detection
            [21, 20, 40, 40],  # the square, named a star
            [100, 100, 120, 120],  # nothing there
            [72, 2, 90, 20],  # the star
        ],
        np.float32,
    )
    report = scene_report(
        truth, labels, pred, np.array([0, 0, 3, 1, 3]), np.array([0.9, 0.6, 0.7, 0.8, 0.55])
    )
    assert report == {
        "shapes": 4,
        "found": ["circle 0.90", "star 0.55"],
        "misnamed": ["square as star"],
        "missed": ["triangle"],
        "false": ["square 0.80"],
    }


def test_both_tasks_have_settings() -> None:
    assert set(SETTINGS) == {"detect", "segment", "panoptic", "caption", "all"}
    for settings in SETTINGS.values():
        assert settings.imgsz % 32 == 0
        assert settings.epochs % settings.val_every == 0  # the last epoch is validated
