"""Tiles and tracking run on exported models: the same merged boxes as PyTorch through a
dynamic ONNX export, a fixed-size export's tile limit, and tracks from the export's detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import randomize_
from tests.inference.test_tracking import _scene_video
from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.deploy.export import ExportOptions, export
from yolov9.errors import ConfigError
from yolov9.inference.tracking import track_results, tracker_config
from yolov9.models import build_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = randomize_(build_model("gelan-t", num_classes=3), seed=2)
    with torch.no_grad():
        for cls in model.head.cls:
            cls[-1].bias.fill_(0.0)
    path = tmp_path_factory.mktemp("w") / "t.pt"
    return save_checkpoint(path, model, ["a", "b", "c"], meta={"imgsz": 128})


def _rows(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    rows = np.c_[np.round(boxes, 1), np.round(scores, 3)]
    return rows[np.lexsort(rows.T[::-1])]


def test_tiles_and_tracks_through_onnx(weights: Path, tmp_path: Path) -> None:
    onnx = export(weights, tmp_path / "dyn", ExportOptions(imgsz=128, dynamic=True)).path
    ours, exported = Detector.from_pretrained(weights), Detector.from_pretrained(onnx)
    image = np.random.default_rng(0).integers(0, 256, (300, 420, 3), dtype=np.uint8)
    a = ours.predict(image, conf=0.05, tile=128)[0]
    b = exported.predict(image, conf=0.05, tile=128)[0]
    assert len(a) > 0
    # near-equal scores may come out in another order: compare as sorted rows
    np.testing.assert_allclose(_rows(a.boxes, a.scores), _rows(b.boxes, b.scores), atol=0.05)
    # tracking: the exported backend's detections go through the same trackers (random
    # weights give near-equal scores whose NMS ties break differently per runtime, so the
    # check is against the export's own detections, tracked directly)
    video = _scene_video(tmp_path / "clip.avi", n=10)
    settings = {"high": 0.2, "new_track": 0.2}
    tracked = exported.track(video, conf=0.05, tracker_settings=settings)
    direct = track_results(
        exported.predict(video, conf=0.05), tracker_config("bytetrack", settings)
    )
    assert sum(len(r) for r in tracked) > 0
    for x, y in zip(tracked, direct, strict=True):
        assert x.track_ids.tolist() == y.track_ids.tolist()
        np.testing.assert_array_equal(x.boxes, y.boxes)


def test_fixed_size_export_takes_tiles_up_to_its_input(weights: Path, tmp_path: Path) -> None:
    onnx = export(weights, tmp_path / "fixed", ExportOptions(imgsz=128)).path
    detector = Detector.from_pretrained(onnx)
    image = np.random.default_rng(1).integers(0, 256, (200, 260, 3), dtype=np.uint8)
    result = detector.predict(image, conf=0.05, tile=96)[0]  # 96 px tiles padded to 128
    assert result.orig_shape == (200, 260)
    with pytest.raises(ConfigError, match="takes 128x128 inputs: use --tile 128 or less"):
        detector.predict(image, tile=160)
