"""The evaluator, end to end: letterbox -> model -> NMS -> original pixels -> COCO metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from yolov9.data.dataset import load_dataset
from yolov9.data.loader import EvalDataset
from yolov9.engine.evaluator import Evaluator, _plot_columns
from yolov9.metrics.coco import CocoResults, evaluate_coco
from yolov9.models import HeadOutput, ModelOutput, build_model


class GroundTruthModel(torch.nn.Module):
    """Outputs, batch by batch, the letterboxed ground truth as confident detections."""

    name = "ground-truth"
    task = "detect"
    caption = None  # not a caption model

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        super().__init__()
        self.batches = batches
        self.head = self

    def forward(self, images: torch.Tensor) -> ModelOutput:
        boxes, scores = self.batches.pop(0)
        assert boxes.shape[0] == images.shape[0]
        z = torch.zeros(0)
        return ModelOutput(HeadOutput(boxes, scores, z, z), None)

    def decode(self, out: HeadOutput) -> tuple[torch.Tensor, torch.Tensor]:
        return out.pred_dist, out.pred_logits


def _letterboxed_truth(ds, imgsz: int, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    data = EvalDataset(ds.records, imgsz, batch)
    out = []
    for start in range(0, len(data), batch):
        samples = [data[i] for i in range(start, min(start + batch, len(data)))]
        boxes = torch.zeros(len(samples), 8, 4)
        scores = torch.zeros(len(samples), 8, len(ds.names))
        for k, s in enumerate(samples):
            cls = s.targets[:, 0]
            boxes[k, : len(cls)] = s.targets[:, 1:5]
            scores[k, torch.arange(len(cls)), cls.long()] = 0.9
        out.append((boxes, scores))
    return out


@pytest.mark.parametrize("imgsz", [128, 320])
def test_perfect_model_scores_one(shapes: dict[str, Path], imgsz: int) -> None:
    ds = load_dataset(shapes["yolo"], "val")
    model = GroundTruthModel(_letterboxed_truth(ds, imgsz, batch=5))
    result = Evaluator(ds, imgsz=imgsz, batch_size=5, device="cpu", progress=False).run(
        model, prepared=True
    )
    assert pytest.approx(1.0) == result.metrics.AP
    assert result.images == 12


def test_real_model_run(shapes: dict[str, Path], tmp_path: Path) -> None:
    ds = load_dataset(shapes["coco"], "val")
    model = build_model("gelan-t", num_classes=4)
    evaluator = Evaluator(ds, imgsz=128, batch_size=4, device="cpu", progress=False)
    result = evaluator.run(model, out_dir=tmp_path)
    assert 0.0 <= result.metrics.AP <= 1.0
    assert set(result.speed_ms) == {"preprocess", "inference", "postprocess"}
    assert sorted(p.name for p in result.plots) == [
        "confusion_matrix.png",
        "pr_curve.png",
        "val_examples.jpg",
    ]
    sizes = {r.image_id: (r.width, r.height) for r in ds.records}
    for p in result.predictions[:200]:
        x, y, w, h = p["bbox"]
        W, H = sizes[p["image_id"]]
        assert 0 <= x <= x + w <= W + 1e-3
        assert 0 <= y <= y + h <= H + 1e-3
        assert p["category_id"] in ds.category_ids
    assert len(result.predictions) <= 300 * len(ds)


def test_detections_stay_arrays_until_asked_for(shapes: dict[str, Path], tmp_path: Path) -> None:
    """The run keeps its detections as COCO results in arrays (issue 13: dicts for 1.5 M
    detections took GBs); entries, metrics and plot inputs equal those of the dicts."""
    ds = load_dataset(shapes["coco"], "val")
    evaluator = Evaluator(ds, imgsz=128, batch_size=4, device="cpu", progress=False)
    result = evaluator.run(build_model("gelan-t", num_classes=4))
    assert isinstance(result.detections, CocoResults)
    assert len(result.detections) > 100  # an untrained model at conf 0.001
    entries = result.predictions
    assert entries == result.detections.entries()
    one_pass = evaluate_coco(evaluator.gt, entries, pass_detections=10**9)
    assert one_pass.as_dict() == result.metrics.as_dict()
    sizes = {r.image_id: (r.height, r.width) for r in ds.records}
    from_dicts = _plot_columns(entries, sizes)
    for a, b in zip(_plot_columns(result.detections, sizes)[:4], from_dicts[:4], strict=True):
        np.testing.assert_array_equal(a, b)


def test_unreadable_image_is_excluded_and_reported(shapes: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    import yaml

    root = tmp_path / "copy"
    shutil.copytree(Path(shapes["yolo"]).parent / "images" / "val", root / "images" / "val")
    shutil.copytree(Path(shapes["yolo"]).parent / "labels" / "val", root / "labels" / "val")
    (root / "data.yaml").write_text(yaml.safe_dump({"val": "images/val", "names": list("abcd")}))
    ds = load_dataset(root / "data.yaml")
    assert len(ds) == 12
    victim = root / "images" / "val" / "val_00003.png"  # breaks after the labels were read
    victim.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = Evaluator(ds, imgsz=64, batch_size=4, device="cpu", progress=False).run(
        build_model("gelan-t", num_classes=4)
    )
    assert result.images == 11
    assert len(result.failed) == 1
    assert "val_00003.png" in result.failed[0]
    assert all(p["image_id"] != 3 for p in result.predictions)
    assert np.isfinite(result.metrics.AP)
