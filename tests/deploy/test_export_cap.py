"""Exports of caption and all-task models: the model is one graph with the caption head's
memory among its outputs (passed through when NMS is inside) and the caption decoder a
second graph beside it, stepped by our search; predictions from the files carry the caption
the PyTorch model writes (greedy and beam search, token for token) with every other output;
formats that cannot carry the decoder, and a decoder gone missing, are one-line errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.deploy.export import ExportOptions, export
from yolov9.errors import CheckpointError, ConfigError
from yolov9.models import CaptionSpec, build_model
from yolov9.models.caption_search import Decoding
from yolov9.tasks.caption import CaptionTokenizer

SIZE = 96
TEXTS = [
    "a red disc left of a box",
    "two boxes on grass by the water",
    "a triangle under the sky on sand",
    "a box and a disc near a wall",
] * 10


@pytest.fixture(scope="module", params=["yolov9-t-cap", "yolov9-t-all"])
def weights(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tokenizer = CaptionTokenizer.train(TEXTS, vocab_size=40)
    spec = CaptionSpec(vocab_size=len(tokenizer), max_len=8)
    model = build_model(
        request.param, 3, stuff_classes=2, caption=spec, vocabulary=tokenizer.model_bytes
    ).drop_aux()
    meta = {"imgsz": SIZE, "stuff_names": ["sky", "grass"]}
    path = tmp_path_factory.mktemp("capw") / f"{request.param}.pt"
    return save_checkpoint(path, model, ["disc", "box", "triangle"], meta=meta)


def _captions(path: Path, beam: int) -> list[str]:
    detector = Detector.from_pretrained(path, imgsz=SIZE)
    detector.backend.decoding = Decoding(beam=beam, max_len=8)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8) for _ in range(2)]
    return [r.caption or "" for r in detector.predict(images)]


@pytest.mark.parametrize("nms", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_onnx_captions_as_pytorch_does(weights: Path, nms: bool) -> None:
    report = export(
        weights,
        weights.parent / f"{weights.stem}-nms{int(nms)}",
        ExportOptions(imgsz=SIZE, nms=nms),
    )
    assert report.max_diff["captions_differing"] == 0
    assert report.max_diff["caption_logp"] < 1e-4
    assert report.path.with_name(report.path.stem + "_caption.onnx").is_file()
    for beam in (1, 3):
        want = _captions(weights, beam)
        assert all(want)
        assert _captions(report.path, beam) == want


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="openvino not installed")
def test_openvino_captions_as_pytorch_does(weights: Path) -> None:
    report = export(
        weights, weights.parent / f"{weights.stem}-ov", ExportOptions("openvino", imgsz=SIZE)
    )
    assert report.max_diff["captions_differing"] == 0
    assert _captions(report.path, 1) == _captions(weights, 1)


def test_formats_without_the_decoder_and_a_missing_decoder_are_one_line(
    weights: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="exports to onnx or openvino"):
        export(weights, tmp_path / "m", ExportOptions("torchscript", imgsz=SIZE))
    report = export(weights, tmp_path / "m", ExportOptions(imgsz=SIZE))
    report.path.with_name(report.path.stem + "_caption.onnx").unlink()
    with pytest.raises(CheckpointError, match=r"caption decoder m_caption\.onnx is not beside"):
        Detector.from_pretrained(report.path)
