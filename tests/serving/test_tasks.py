"""Every task's model behind the service, and an exported file: detection and instance
models answer their records (masks for the latter), caption and all-task models the caption
(the all-task one with the panoptic segments too), and an ONNX export the same records as
the checkpoint it came from."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.serving.conftest import httpx, running, scene_png
from yolov9.api import Detector
from yolov9.checkpoints import save_checkpoint
from yolov9.deploy.export import ExportOptions, export
from yolov9.models import CaptionSpec, build_model
from yolov9.serving import ServeOptions
from yolov9.tasks.caption import CaptionTokenizer

TEXTS = ["a red block on grass", "a blue block under the sky", "two blocks on grass"] * 10


def _checkpoint(name: str, folder: Path) -> Path:
    torch.manual_seed(0)
    kw: dict = {}
    meta: dict = {"imgsz": 128}
    if name.endswith(("-cap", "-all")):
        tokenizer = CaptionTokenizer.train(TEXTS, vocab_size=30)
        kw = {"caption": CaptionSpec(vocab_size=len(tokenizer), max_len=6)}
        kw["vocabulary"] = tokenizer.model_bytes
    if name.endswith("-all"):
        kw["stuff_classes"] = 2
        meta["stuff_names"] = ["sky", "grass"]
    model = build_model(name, 2, **kw)
    return save_checkpoint(folder / f"{name}.pt", model, ["a", "b"], meta=meta)


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("gelan-t", {"records"}),
        ("gelan-t-seg", {"records"}),
        ("gelan-t-cap", {"records", "caption", "caption_score"}),
        ("gelan-t-all", {"records", "caption", "panoptic", "semantic"}),
    ],
)
def test_every_task_answers_its_fields(name: str, fields: set[str], tmp_path: Path) -> None:
    detector = Detector.from_pretrained(_checkpoint(name, tmp_path), device="cpu")
    with running(detector, ServeOptions()) as url:
        info = httpx.get(f"{url}/v1/model").json()
        answer = httpx.post(f"{url}/v1/predict?conf=0.001&max_det=3", content=scene_png())
        assert answer.status_code == 200, answer.text
        got = answer.json()
        drawn = httpx.post(f"{url}/v1/predict?draw=true", content=scene_png())
    assert info["task"] == detector.task
    assert fields <= set(got)
    assert len(got["records"]) == 3
    if name.endswith("-seg"):
        assert all("mask" in r for r in got["records"])
    if "caption" in fields:
        assert got["caption"]
    assert drawn.headers["content-type"] == "image/jpeg"


def test_tiles_are_bounded_per_request(tmp_path: Path) -> None:
    detector = Detector.from_pretrained(_checkpoint("gelan-t", tmp_path), device="cpu")
    large = scene_png((2000, 2000))
    with running(detector, ServeOptions()) as url:
        refused = httpx.post(f"{url}/v1/predict?tile=128", content=large)
        tiled = httpx.post(f"{url}/v1/predict?tile=1024&conf=0.001", content=large)
    assert refused.status_code == 413
    assert "400 windows; the limit is 256" in refused.json()["error"]
    assert tiled.status_code == 200


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="no onnxruntime")
def test_an_onnx_export_answers_as_its_checkpoint(pan_ckpt: Path, tmp_path: Path) -> None:
    report = export(pan_ckpt, tmp_path / "onnx", ExportOptions(imgsz=128))
    answers = []
    for weights in (pan_ckpt, report.path):
        detector = Detector.from_pretrained(weights, imgsz=128, device="cpu")
        with running(detector, ServeOptions()) as url:
            info = httpx.get(f"{url}/v1/model").json()
            square = scene_png((128, 128))  # the export's fixed input: no letterbox difference
            answers.append(httpx.post(f"{url}/v1/predict", content=square).json())
    assert "onnx" in info["backend"].lower()
    torch_records, onnx_records = answers[0]["records"], answers[1]["records"]
    assert [r["class_id"] for r in onnx_records] == [r["class_id"] for r in torch_records]
    for a, b in zip(onnx_records, torch_records, strict=True):
        assert np.allclose(a["box"], b["box"], atol=0.05)
