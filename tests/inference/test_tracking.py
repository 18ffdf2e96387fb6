"""Tracking through the detector: ids through an occlusion in a video, masks following their
track, the CLI's outputs (annotated video, JSON with track ids, MOTChallenge text)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import randomize_
from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.cli import main
from yolov9.inference.backends import Decoded
from yolov9.models import build_model


def _scene_video(path: Path, n: int = 40) -> Path:
    """Two white squares moving towards each other; the bottom one passes behind a
    dark pillar (x 140-200), unseen by the detector in frames 8-33: 26 frames, within the
    trackers' 30-frame buffer at 30 fps."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (256, 128))
    # a still, textured background: camera-motion estimation finds no motion in it
    texture = np.random.default_rng(0).integers(40, 140, (128, 256, 1), dtype=np.uint8)
    background = cv2.GaussianBlur(np.repeat(texture, 3, axis=2), (5, 5), 1.0)
    for f in range(n):
        frame = background.copy()
        x = 10 + 3 * f
        frame[20:44, x : x + 24] = 255
        x = 220 - 3 * f
        frame[80:104, x : x + 24] = 255
        frame[70:114, 140:200] = 20  # the pillar, drawn over the square
        writer.write(frame)
    writer.release()
    return path


def _fake_detector(monkeypatch: pytest.MonkeyPatch) -> Detector:
    """Boxes around connected white blobs of each input, score 0.9, class 0; blobs less than
    nearly whole (a square mostly behind the pillar) are not detected."""
    det = Detector(build_model("gelan-t", num_classes=1), ["square"], imgsz=256, device="cpu")

    def fake_infer(batch: torch.Tensor) -> Decoded:
        boxes = torch.zeros(batch.shape[0], 8, 4)
        scores = torch.zeros(batch.shape[0], 8, 1)
        for i, image in enumerate(batch):
            white = ((image > 0.9).all(0).numpy() * 255).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(white)
            for k in range(1, min(n, 9)):
                x, y, w, h, area = stats[k]
                if area >= 500:
                    boxes[i, k - 1] = torch.tensor([x, y, x + w, y + h], dtype=torch.float32)
                    scores[i, k - 1, 0] = 0.9
        return Decoded(boxes, scores)

    monkeypatch.setattr(det.backend, "infer", fake_infer)
    return det


@pytest.mark.parametrize("tracker", ["bytetrack", "botsort"])
def test_ids_persist_through_an_occlusion_in_a_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracker: str
) -> None:
    video = _scene_video(tmp_path / "clip.avi")
    results = _fake_detector(monkeypatch).track(video, tracker=tracker)
    assert [r.frame for r in results] == list(range(40))

    def ids(r: object) -> dict[str, int]:  # track id by which square (top or bottom row)
        return {
            ("top" if b[1] < 64 else "bottom"): int(t)
            for b, t in zip(r.boxes, r.track_ids, strict=True)  # type: ignore[attr-defined]
        }

    assert ids(results[5]) == {"top": 1, "bottom": 2}
    assert ids(results[20]) == {"top": 1}  # hidden behind the pillar
    assert ids(results[34]) == {"top": 1, "bottom": 2}  # out again, same id
    assert ids(results[39]) == {"top": 1, "bottom": 2}


def test_masks_follow_their_track(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = randomize_(build_model("gelan-t-dseg", 2))
    ckpt = save_checkpoint(tmp_path / "seg.pt", model, ["a", "b"], meta={"imgsz": 128})
    det = Detector.from_pretrained(ckpt, device="cpu")
    video = _scene_video(tmp_path / "clip.avi", n=6)
    plain = det.predict(video, conf=0.1)
    tracked = det.track(video, tracker_settings={"high": 0.0, "new_track": 0.0})
    assert any(len(r) for r in tracked)
    for p, t in zip(plain, tracked, strict=True):
        assert t.masks is not None
        assert len(t.masks) == len(t) == len(t.track_ids)
        for k in range(len(t)):  # each tracked detection carries its own mask
            i = int(np.flatnonzero((p.boxes == t.boxes[k]).all(1))[0])
            assert np.array_equal(p.masks.mask(i), t.masks.mask(k))


def test_cli_track_writes_video_json_and_mot(tmp_path: Path) -> None:
    ckpt = save_checkpoint(
        tmp_path / "m.pt", build_model("gelan-t", 1), ["square"], meta={"imgsz": 128}
    )
    video = _scene_video(tmp_path / "clip.avi", n=8)
    out, records = tmp_path / "run", tmp_path / "t.json"
    argv = ["track", "--weights", str(ckpt), "--source", str(video), "--device", "cpu"]
    argv += ["--out", str(out), "--save-json", str(records), "--save-mot"]
    argv += ["--tracker-set", "high=0.0", "--tracker-set", "new_track=0.0", "--conf", "0.0"]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4", "clip.txt"]
    written = json.loads(records.read_text())
    assert written
    assert all(isinstance(r["track_id"], int) and r["track_id"] >= 1 for r in written)
    lines = (out / "clip.txt").read_text().splitlines()
    assert len(lines) == len(written)
    for line, record in zip(lines, written, strict=True):
        fields = line.split(",")
        assert len(fields) == 10
        assert int(fields[0]) == record["frame"] + 1  # MOT frames count from 1
        assert int(fields[1]) == record["track_id"]
        x1, y1, x2, y2 = record["box"]
        np.testing.assert_allclose(
            [float(v) for v in fields[2:6]], [x1, y1, x2 - x1, y2 - y1], atol=0.02
        )
        assert fields[7:] == ["-1", "-1", "-1"]
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8


def test_cli_track_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = save_checkpoint(tmp_path / "m.pt", build_model("gelan-t", 1), ["square"])
    video = _scene_video(tmp_path / "clip.avi", n=2)
    base = ["track", "--weights", str(ckpt), "--source", str(video), "--no-save"]
    assert main([*base, "--tracker-set", "speed=3"]) == 2
    assert "--tracker-set speed=3: expected KEY=VALUE" in capsys.readouterr().err
    assert main([*base, "--tracker-set", "high=2"]) == 2
    assert "high must be in [0, 1]" in capsys.readouterr().err


def test_json_is_kept_when_a_stream_is_stopped_with_ctrl_c(tmp_path: Path) -> None:
    from yolov9.errors import DataError
    from yolov9.inference.result import Result
    from yolov9.inference.writers import OutputWriter

    def frames():  # a live source stopped by the user after two frames
        for k in range(2):
            yield Result(
                boxes=np.array([[1, 2, 3, 4]], np.float32),
                scores=np.array([0.9], np.float32),
                labels=np.array([0]),
                names=["a"],
                orig_shape=(10, 10),
                path="rtsp://cam",
                frame=k,
                track_ids=np.array([7]),
            )
        raise KeyboardInterrupt

    path = tmp_path / "t.json"
    with pytest.raises(KeyboardInterrupt):
        OutputWriter(None, json_path=path, mot_dir=tmp_path / "mot").consume(frames())
    assert [r["frame"] for r in json.loads(path.read_text())] == [0, 1]
    assert (tmp_path / "mot" / "cam.txt").read_text().count("\n") == 2
    with pytest.raises(DataError, match="is a folder"):
        OutputWriter(None, json_path=tmp_path)
