"""ByteTrack (Zhang et al., ECCV 2022) and BoT-SORT (Aharon et al., 2022; motion only: no
appearance re-identification) on our detections.

Both trackers follow the authors' published update step:

1. predict every tracked and lost track one frame ahead (Kalman filter; BoT-SORT first
   applies the camera motion found by :class:`~yolov9.track.gmc.SparseFlowGMC`);
2. match the confident detections (score > ``high``) to them on IoU weighted by the score,
   optimally, pairs with a cost up to ``match`` (0.8: IoU 0.2 at score 1);
3. match the remaining tracked ones to the weak detections (``low`` < score < ``high``)
   on IoU alone, up to ``second_match`` (0.5); tracks still unmatched become lost;
4. match tracks born last frame (unconfirmed) to the confident detections left, up to
   ``unconfirmed_match`` (0.7); unconfirmed tracks left unmatched are removed;
5. start a track for each confident detection left scoring ``new_track`` or more (it is
   confirmed when matched on the next frame, at once on the first frame);
6. remove tracks lost for more than ``buffer`` frames (scaled by frame rate / 30) and, of a
   tracked and a lost track overlapping with IoU > 0.85, the younger one.

A track reports the box, score and class of the detection it matched this frame; ids start at
1 for each tracker (each video).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from yolov9.track.gmc import SparseFlowGMC
from yolov9.track.kalman import KalmanFilter, state_to_xyxy, xyxy_to_measurement
from yolov9.track.matching import fuse_score, iou_matrix, linear_assignment

NEW, TRACKED, LOST, REMOVED = range(4)


@dataclass(frozen=True)
class TrackerConfig:
    """A tracker's settings; :data:`TRACKERS` holds the published defaults."""

    high: float  # confident detections (ByteTrack track_thresh, BoT-SORT track_high_thresh)
    new_track: float  # a new track needs at least this score
    low: float = 0.1  # weak detections, for the second association
    match: float = 0.8  # cost limits of the three associations (1 - IoU, score-fused first)
    second_match: float = 0.5
    unconfirmed_match: float = 0.7
    buffer: int = 30  # frames a lost track is kept (at 30 fps)
    fuse_score: bool = True  # weight IoU by the detection's score (both papers' default)
    motion: str = "xyah"  # the Kalman filter's box form
    gmc: str = "none"  # camera motion compensation: "none" or "sparse" (optical flow)

    def __post_init__(self) -> None:
        for name in ("high", "new_track", "low", "match", "second_match", "unconfirmed_match"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"tracker setting {name} must be in [0, 1], got {value}")
        if self.buffer < 1:
            raise ValueError(f"tracker setting buffer must be >= 1, got {self.buffer}")
        if self.motion not in ("xyah", "xywh"):
            raise ValueError(f"tracker setting motion must be xyah or xywh, got {self.motion}")
        if self.gmc not in ("none", "sparse"):
            raise ValueError(f"tracker setting gmc must be none or sparse, got {self.gmc}")

    def with_values(self, values: dict[str, Any]) -> TrackerConfig:
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown tracker setting(s) {unknown}; known: {sorted(known)}")
        return replace(self, **values)


TRACKERS: dict[str, TrackerConfig] = {
    # ByteTrack's demo defaults: track_thresh 0.5, det_thresh = track_thresh + 0.1,
    # match_thresh 0.8, track_buffer 30, mot20 False (score fusion)
    "bytetrack": TrackerConfig(high=0.5, new_track=0.6, motion="xyah", gmc="none"),
    # BoT-SORT's: track_high_thresh 0.6, track_low_thresh 0.1, new_track_thresh 0.7,
    # match_thresh 0.8, track_buffer 30, xywh Kalman filter, camera motion compensation
    "botsort": TrackerConfig(high=0.6, new_track=0.7, motion="xywh", gmc="sparse"),
}


class Track:
    """One object's track: Kalman state, id, state and the detection it matched last."""

    def __init__(self, box: np.ndarray, score: float, label: int, index: int) -> None:
        self.box, self.score, self.label, self.index = box, score, label, index
        self.mean = np.zeros(8)
        self.cov = np.eye(8)
        self.track_id = 0
        self.state = NEW
        self.is_activated = False
        self.frame_id = self.start_frame = 0

    def predicted_box(self, form: str) -> np.ndarray:
        return state_to_xyxy(self.mean, form)

    def take(self, det: Track, frame_id: int, kf: KalmanFilter) -> None:
        """Update with a matched detection (also re-activates a lost track, same id)."""
        self.mean, self.cov = kf.update(self.mean, self.cov, xyxy_to_measurement(det.box, kf.form))
        self.box, self.score, self.label, self.index = det.box, det.score, det.label, det.index
        self.state, self.is_activated, self.frame_id = TRACKED, True, frame_id


class Tracker:
    """ByteTrack or BoT-SORT (by its :class:`TrackerConfig`), one video at a time."""

    def __init__(self, config: TrackerConfig, frame_rate: float = 30.0) -> None:
        self.config = config
        self.kf = KalmanFilter(config.motion)
        self.gmc = SparseFlowGMC() if config.gmc == "sparse" else None
        if not (math.isfinite(frame_rate) and frame_rate > 0):
            frame_rate = 30.0
        self.max_lost = max(1, int(frame_rate / 30.0 * config.buffer))
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video); ids start again at 1."""
        self.tracked: list[Track] = []
        self.lost: list[Track] = []
        self.frame_id = 0
        self.next_id = 1
        if self.gmc is not None:
            self.gmc.reset()

    def update(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        labels: np.ndarray,
        image: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Take one frame's detections (xyxy boxes, scores, class ids).

        Returns:
            (indices into this frame's detections, their track ids), one pair per confirmed
            track matched in this frame.
        """
        cfg, kf = self.config, self.kf
        self.frame_id += 1
        frame = self.frame_id
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        labels = np.asarray(labels).reshape(-1)
        dets = [Track(boxes[i], float(scores[i]), int(labels[i]), i) for i in range(len(scores))]
        strong = [d for d in dets if d.score > cfg.high]
        weak = [d for d in dets if cfg.low < d.score < cfg.high]

        unconfirmed = [t for t in self.tracked if not t.is_activated]
        confirmed = [t for t in self.tracked if t.is_activated]
        pool = _unique(confirmed + self.lost)
        for t in pool:
            if t.state != TRACKED:  # a lost track keeps moving, without changing its size
                t.mean[7] = 0.0
                if cfg.motion == "xywh":
                    t.mean[6] = 0.0
            t.mean, t.cov = kf.predict(t.mean, t.cov)
        if self.gmc is not None and image is not None:
            warp = self.gmc.apply(image, boxes[scores > cfg.low])
            for t in pool + unconfirmed:
                _warp(t, warp)

        activated: list[Track] = []
        # 1. confident detections against tracked and lost tracks
        left_tracks, left_strong = self._match(
            pool, strong, cfg.match, cfg.fuse_score, frame, activated
        )
        # 2. weak detections against the tracked ones left
        remaining = [pool[i] for i in left_tracks if pool[i].state == TRACKED]
        still, _ = self._match(remaining, weak, cfg.second_match, False, frame, activated)
        for i in still:
            remaining[i].state = LOST
        # 3. last frame's new tracks against the confident detections left
        strong = [strong[i] for i in left_strong]
        dropped, left_strong = self._match(
            unconfirmed, strong, cfg.unconfirmed_match, cfg.fuse_score, frame, activated
        )
        for i in dropped:
            unconfirmed[i].state = REMOVED
        # 4. new tracks
        for i in left_strong:
            det = strong[i]
            if det.score < cfg.new_track:
                continue
            det.mean, det.cov = kf.initiate(xyxy_to_measurement(det.box, kf.form))
            det.track_id, self.next_id = self.next_id, self.next_id + 1
            det.state, det.is_activated = TRACKED, frame == 1
            det.frame_id = det.start_frame = frame
            activated.append(det)
        # 5. bookkeeping
        for t in self.lost:
            if t.state == LOST and frame - t.frame_id > self.max_lost:
                t.state = REMOVED
        tracked = _unique(
            [t for t in self.tracked if t.state == TRACKED and t.frame_id == frame] + activated
        )
        lost = _unique(
            [t for t in self.lost + pool + unconfirmed if t.state == LOST and t not in tracked]
        )
        self.tracked, self.lost = self._drop_duplicates(tracked, lost)
        out = [t for t in self.tracked if t.is_activated]
        return (
            np.array([t.index for t in out], np.int64),
            np.array([t.track_id for t in out], np.int64),
        )

    def _match(
        self,
        tracks: list[Track],
        dets: list[Track],
        limit: float,
        fuse: bool,
        frame: int,
        activated: list[Track],
    ) -> tuple[list[int], list[int]]:
        """One association: matched tracks take their detection and join ``activated``;
        returns the unmatched tracks' and detections' indices."""
        cost = self._cost(tracks, dets, fuse=fuse)
        pairs, left_tracks, left_dets = linear_assignment(cost, limit)
        for ti, di in pairs:
            tracks[ti].take(dets[di], frame, self.kf)
            activated.append(tracks[ti])
        return left_tracks, left_dets

    def _cost(self, tracks: list[Track], dets: list[Track], *, fuse: bool) -> np.ndarray:
        if not tracks or not dets:
            return np.zeros((len(tracks), len(dets)))
        predicted = np.array([t.predicted_box(self.kf.form) for t in tracks])
        cost = 1.0 - iou_matrix(predicted, np.array([d.box for d in dets]))
        return fuse_score(cost, np.array([d.score for d in dets])) if fuse else cost

    def _drop_duplicates(
        self, tracked: list[Track], lost: list[Track]
    ) -> tuple[list[Track], list[Track]]:
        """Of a tracked and a lost track with IoU > 0.85, keep the older one."""
        if not tracked or not lost:
            return tracked, lost
        form = self.kf.form
        iou = iou_matrix(
            np.array([t.predicted_box(form) for t in tracked]),
            np.array([t.predicted_box(form) for t in lost]),
        )
        drop_t, drop_l = set(), set()
        for i, j in zip(*np.nonzero(1.0 - iou < 0.15), strict=True):
            age_t = tracked[i].frame_id - tracked[i].start_frame
            age_l = lost[j].frame_id - lost[j].start_frame
            if age_t > age_l:
                drop_l.add(int(j))
            else:
                drop_t.add(int(i))
        return (
            [t for i, t in enumerate(tracked) if i not in drop_t],
            [t for j, t in enumerate(lost) if j not in drop_l],
        )


def _unique(tracks: list[Track]) -> list[Track]:
    seen: set[int] = set()
    out = []
    for t in tracks:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _warp(track: Track, warp: np.ndarray) -> None:
    """Apply a 2x3 camera warp to a track's state (positions and velocities rotate and scale
    with it; positions also shift)."""
    rot = np.kron(np.eye(4), warp[:, :2])
    track.mean = rot @ track.mean
    track.mean[:2] += warp[:, 2]
    track.cov = rot @ track.cov @ rot.T


def make_tracker(name: str = "bytetrack", frame_rate: float = 30.0, **values: Any) -> Tracker:
    """A tracker by name (``"bytetrack"`` or ``"botsort"``) with its published defaults,
    changed by ``values`` (fields of :class:`TrackerConfig`)."""
    if name not in TRACKERS:
        raise ValueError(f"unknown tracker {name!r}; choose one of {sorted(TRACKERS)}")
    return Tracker(TRACKERS[name].with_values(values), frame_rate=frame_rate)
