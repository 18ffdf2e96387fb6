"""Tracking on top of prediction: each sequence (a video, a stream, or a run of still images)
gets its own tracker; each result keeps the detections that belong to a track, labelled with
their ids (masks follow their detection)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from yolov9.errors import ConfigError
from yolov9.inference.result import Result
from yolov9.inference.writers import sequence_key
from yolov9.track import TRACKERS, Tracker, TrackerConfig

log = logging.getLogger(__name__)


def tracker_config(tracker: str | TrackerConfig, settings: dict[str, Any]) -> TrackerConfig:
    """A tracker's published defaults (by name) changed by ``settings``.

    Raises:
        ConfigError: an unknown tracker or setting, or a value out of range.
    """
    if isinstance(tracker, TrackerConfig):
        base = tracker
    elif tracker in TRACKERS:
        base = TRACKERS[tracker]
    else:
        raise ConfigError(f"unknown tracker {tracker!r}; choose one of {sorted(TRACKERS)}")
    try:
        return base.with_values(settings)
    except (TypeError, ValueError) as e:
        raise ConfigError(str(e)) from None


def track_results(
    results: Iterable[Result], config: TrackerConfig, *, vid_stride: int = 1
) -> Iterator[Result]:
    """Run ``config``'s tracker over ``results`` in order, one tracker per sequence."""
    tracker: Tracker | None = None
    current: str | None = None
    for result in results:
        key = sequence_key(result)
        if tracker is None or key != current:
            fps = (result.fps or 30.0) / max(1, vid_stride)
            tracker, current = Tracker(config, frame_rate=fps), key
        indices, ids = tracker.update(
            result.boxes, result.scores, result.labels, image=result.image
        )
        yield result.select(indices, ids)
