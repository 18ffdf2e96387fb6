"""ByteTrack and BoT-SORT: ids kept through an occlusion and a crossing, the published
association rules, the assignment solver's threshold semantics, the Kalman filter and the
camera-motion estimate."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from yolov9.track import TRACKERS, make_tracker
from yolov9.track.gmc import SparseFlowGMC
from yolov9.track.kalman import KalmanFilter, state_to_xyxy, xyxy_to_measurement
from yolov9.track.matching import iou_matrix, linear_assignment

FRAME = np.zeros((240, 320, 3), np.uint8)


def _run(name: str, frames: list[list[tuple[list[float], float]]]) -> list[dict[int, int]]:
    """Per frame: {detection index: track id}."""
    tracker = make_tracker(name)
    out = []
    for dets in frames:
        boxes = np.array([b for b, _ in dets], float).reshape(-1, 4)
        scores = np.array([s for _, s in dets], float)
        idx, ids = tracker.update(boxes, scores, np.zeros(len(dets), int), image=FRAME)
        out.append(dict(zip(idx.tolist(), ids.tolist(), strict=True)))
    return out


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_id_survives_an_occlusion(name: str) -> None:
    """B disappears for 12 frames (hidden) and comes back where its motion predicts: same id;
    a new object gets a new id."""
    frames = []
    for f in range(45):
        dets = [([10 + 3 * f, 10, 40 + 3 * f, 40], 0.9)]
        if not 15 <= f < 27:
            dets.append(([250 - 2 * f, 100, 280 - 2 * f, 130], 0.8))
        if f >= 35:
            dets.append(([100, 200, 130, 230], 0.9))
        frames.append(dets)
    ids = _run(name, frames)
    assert ids[0] == {0: 1, 1: 2}
    assert ids[14] == {0: 1, 1: 2}
    assert ids[20] == {0: 1}  # B hidden: not reported
    assert ids[27] == {0: 1, 1: 2}  # back with its id
    assert ids[35] == {0: 1, 1: 2}  # a new object is confirmed on its second frame
    assert ids[36] == {0: 1, 1: 2, 2: 3}


@pytest.mark.parametrize("name", sorted(TRACKERS))
def test_ids_hold_through_a_crossing(name: str) -> None:
    frames = []
    for f in range(40):
        a = [20 + 6 * f, 100, 50 + 6 * f, 130]
        b = [260 - 6 * f, 104, 290 - 6 * f, 134]
        frames.append([(a, 0.9), (b, 0.85)])
    ids = _run(name, frames)
    assert all(d == {0: 1, 1: 2} for d in ids)


def test_weak_detections_keep_a_track_but_never_start_one() -> None:
    """ByteTrack's second association: a track continues on a 0.3 detection; a lone 0.3
    detection starts nothing; a new track needs 0.6 (track_thresh + 0.1)."""
    frames = [[([10, 10, 40, 40], 0.9)]] + [
        [([10 + 2 * f, 10, 40 + 2 * f, 40], 0.3)] for f in range(1, 6)
    ]
    ids = _run("bytetrack", frames)
    assert all(d == {0: 1} for d in ids)
    assert _run("bytetrack", [[([10, 10, 40, 40], 0.3)]] * 3) == [{}, {}, {}]
    assert _run("bytetrack", [[([10, 10, 40, 40], 0.55)]] * 3) == [{}, {}, {}]
    assert _run("bytetrack", [[([10, 10, 40, 40], 0.6)]] * 2) == [{0: 1}, {0: 1}]
    assert _run("botsort", [[([10, 10, 40, 40], 0.65)]] * 2) == [{}, {}]  # needs 0.7


def test_a_lost_track_is_forgotten_after_the_buffer() -> None:
    box = [10, 10, 40, 40]
    frames = [[(box, 0.9)]] * 3 + [[]] * 31 + [[(box, 0.9)]] * 2
    ids = _run("bytetrack", frames)
    assert ids[2] == {0: 1}
    assert ids[-2] == {}  # buffer of 30 frames passed: a new id, confirmed next frame
    assert ids[-1] == {0: 2}


def test_assignment_is_optimal_under_the_threshold() -> None:
    """The extended-cost solution: no pair above the limit, and among such matchings the
    total cost (unmatched row + column costing the limit) is minimal (brute force)."""
    rng = np.random.default_rng(0)
    limit = 0.6
    for _ in range(30):
        n, m = rng.integers(1, 5, 2)
        cost = rng.uniform(0, 1, (n, m))
        pairs, rows, cols = linear_assignment(cost, limit)
        assert all(cost[r, c] <= limit for r, c in pairs)
        assert sorted([r for r, _ in pairs] + rows) == list(range(n))
        assert sorted([c for _, c in pairs] + cols) == list(range(m))

        def total(match: list[tuple[int, int]], cost: np.ndarray = cost) -> float:
            unmatched = cost.shape[0] + cost.shape[1] - 2 * len(match)
            return sum(cost[r, c] for r, c in match) + limit * unmatched / 2

        best = min(
            total(list(zip(rs, cs, strict=True)))
            for k in range(min(n, m) + 1)
            for rs in itertools.permutations(range(n), k)
            for cs in itertools.combinations(range(m), k)
        )
        assert total(pairs) == pytest.approx(best)
    assert linear_assignment(np.zeros((0, 3)), 0.5) == ([], [], [0, 1, 2])


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 1 / 3, 0.0]])


@pytest.mark.parametrize("form", ["xyah", "xywh"])
def test_kalman_filter_learns_a_constant_velocity(form: str) -> None:
    kf = KalmanFilter(form)
    box = np.array([100.0, 50.0, 140.0, 90.0])
    mean, cov = kf.initiate(xyxy_to_measurement(box, form))
    for step in range(1, 30):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(
            mean, cov, xyxy_to_measurement(box + np.array([4, 0, 4, 0]) * step, form)
        )
    mean, _ = kf.predict(mean, cov)
    np.testing.assert_allclose(
        state_to_xyxy(mean, form), box + np.array([120, 0, 120, 0]), atol=0.5
    )
    assert np.allclose(cov, cov.T)


def test_camera_motion_estimate() -> None:
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), (5, 5), 1.5)
    gmc = SparseFlowGMC()
    np.testing.assert_allclose(gmc.apply(scene[50:250, 50:350]), np.eye(2, 3))  # first frame
    warp = gmc.apply(scene[50:250, 56:356])  # the camera moved 6 px right: content moves left
    np.testing.assert_allclose(warp[:, :2], np.eye(2), atol=0.02)
    np.testing.assert_allclose(warp[:, 2], [-6, 0], atol=0.7)


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="unknown tracker setting"):
        make_tracker("bytetrack", speed=3)
    with pytest.raises(ValueError, match="high must be in"):
        make_tracker("botsort", high=2.0)
    with pytest.raises(ValueError, match="unknown tracker"):
        make_tracker("deepsort")
