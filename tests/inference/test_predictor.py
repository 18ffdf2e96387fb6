"""Prediction: sources of every kind, and boxes mapped back into original pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.data.synthetic import make_scene
from yolov9.errors import DataError
from yolov9.inference.backends import Decoded
from yolov9.models import build_model


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(build_model("gelan-t", num_classes=2), ["a", "b"], imgsz=128, device="cpu")


def _write(path: Path, image_rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    return path


def test_boxes_are_mapped_to_original_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    det = Detector(build_model("gelan-t", num_classes=2), ["a", "b"], imgsz=128, device="cpu")
    image = np.zeros((60, 200, 3), np.uint8)  # letterboxed: ratio 0.64 -> 128x38, pad to 128x64
    target = np.array([20.0, 10.0, 120.0, 50.0])  # in original pixels

    def fake_infer(batch: torch.Tensor) -> Decoded:
        assert batch.shape == (1, 3, 64, 128)
        ratio, pad_top = 128 / 200, (64 - round(60 * 128 / 200)) / 2
        box = torch.tensor(target * ratio + np.array([0, pad_top, 0, pad_top]), dtype=torch.float32)
        scores = torch.zeros(1, 5, 2)
        scores[0, 0, 1] = 0.9
        return Decoded(box.expand(1, 5, 4), scores)

    monkeypatch.setattr(det.backend, "infer", fake_infer)
    result = det.predict(image)[0]
    assert result.labels.tolist() == [1]
    np.testing.assert_allclose(result.boxes[0], target, atol=1e-3)
    assert result.records()[0]["class_name"] == "b"
    assert result.orig_shape == (60, 200)


def test_sources_of_every_kind(tmp_path: Path, detector: Detector) -> None:
    rng = np.random.default_rng(0)
    for i in range(3):
        _write(tmp_path / f"img{i}.jpg", make_scene(rng, (96, 128))[0])
    assert len(detector.predict(tmp_path)) == 3
    assert len(detector.predict(str(tmp_path / "img[01].jpg"))) == 2
    assert len(detector.predict([tmp_path / "img0.jpg", make_scene(rng, (50, 70))[0]])) == 2
    batched = detector.predict(tmp_path, batch_size=2)
    assert [Path(r.path).name for r in batched] == ["img0.jpg", "img1.jpg", "img2.jpg"]


def test_video_frames(tmp_path: Path, detector: Detector) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    rng = np.random.default_rng(1)
    for _ in range(4):
        writer.write(make_scene(rng, (48, 64))[0])
    writer.release()
    results = detector.predict(path)
    assert [r.frame for r in results] == [0, 1, 2, 3]
    assert results[0].fps == pytest.approx(10.0)


def test_unreadable_files_are_reported(tmp_path: Path, detector: Detector) -> None:
    _write(tmp_path / "good.jpg", make_scene(np.random.default_rng(2), (64, 64))[0])
    (tmp_path / "bad.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"bad\.jpg: cannot decode"):
        detector.predict(tmp_path)
    skipped: list[str] = []
    assert len(list(detector.stream(tmp_path, skipped=skipped))) == 1
    assert skipped == [str(tmp_path / "bad.jpg")]


def test_bad_arguments(tmp_path: Path, detector: Detector) -> None:
    with pytest.raises(DataError, match="source not found"):
        detector.predict(tmp_path / "nothing.jpg")
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        detector.predict(np.zeros((32, 32, 3), np.uint8), classes=[5])
    with pytest.raises(DataError, match="RGB uint8"):
        detector.predict(np.zeros((32, 32), np.uint8))


def test_from_pretrained_keeps_training_graph_out_of_inference(tmp_path: Path) -> None:
    model = build_model("yolov9-t", num_classes=2)
    path = save_checkpoint(tmp_path / "w.pt", model, ["a", "b"], meta={"imgsz": 96})
    det = Detector.from_pretrained(path, device="cpu")
    assert det.predictor.imgsz == 96
    assert det.backend.model.aux is None
    assert model.aux is not None  # the caller's model is untouched
    result = det.predict(np.zeros((40, 40, 3), np.uint8), conf=0.0, max_det=7)[0]
    assert len(result) == 7
