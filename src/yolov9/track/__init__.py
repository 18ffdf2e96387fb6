"""Multi-object tracking on detections: ByteTrack and BoT-SORT (motion only), on numpy and
scipy's assignment solver."""

from yolov9.track.tracker import TRACKERS, Tracker, TrackerConfig, make_tracker

__all__ = ["TRACKERS", "Tracker", "TrackerConfig", "make_tracker"]
