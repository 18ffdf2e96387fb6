"""The tasks: one registry, every head kind's task registered, unknown tasks in files refused
in one line, and what each task declares matches what its parts compute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from yolov9.checkpoints import load_weights, save_checkpoint
from yolov9.config import LossConfig
from yolov9.data.images import letterbox
from yolov9.errors import CheckpointError
from yolov9.inference import Decoded, InferenceBackend, TorchBackend
from yolov9.inference.exported import _load_meta
from yolov9.loss import SegmentationLoss, Targets, YOLOv9Loss
from yolov9.models import build_model
from yolov9.models.variants import HEAD_KINDS, CaptionSpec, HeadKind
from yolov9.tasks import DEMO_NAMES, NAMES
from yolov9.tasks.base import BOX_NMS_OUTPUTS, BOX_OUTPUTS, PostprocessOptions
from yolov9.tasks.registry import TASKS, get_task


def test_every_head_kind_has_its_registered_task() -> None:
    assert tuple(TASKS) == NAMES == ("detect", "segment", "panoptic", "caption", "all")
    assert tuple(name for name, t in TASKS.items() if t.demo is not None) == DEMO_NAMES
    for kind in HEAD_KINDS:
        task = get_task(HeadKind(kind).task)
        assert kind in task.head_kinds
    single = [t for name, t in TASKS.items() if name != "all"]
    assert sorted(k for t in single for k in t.head_kinds) == sorted(HEAD_KINDS)
    # the all-task network: a panoptic head kind with a caption head
    for kind in get_task("all").head_kinds:
        assert HeadKind(kind, caption=CaptionSpec()).task == "all"


def test_unknown_task_is_one_line_naming_it_and_the_file() -> None:
    with pytest.raises(CheckpointError) as e:
        get_task("semantic", "m.onnx")
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("m.onnx: unknown task 'semantic'")
    assert "detect, segment, panoptic" in message


def test_an_export_with_an_unknown_task_is_refused(tmp_path: Path) -> None:
    backend = InferenceBackend()
    with pytest.raises(CheckpointError, match=r"x\.onnx: unknown task 'captions'"):
        _load_meta(backend, {"names": ["a"], "task": "captions"}, tmp_path / "x.onnx")
    _load_meta(backend, {"names": ["a"]}, tmp_path / "old.onnx")  # before tasks were recorded
    assert backend.task == "detect"


def test_a_checkpoint_whose_task_is_not_its_network_s_is_refused(tmp_path: Path) -> None:
    model = build_model("gelan-t", num_classes=2)
    path = save_checkpoint(tmp_path / "w.pt", model, ["a", "b"], meta={"task": "captions"})
    with pytest.raises(CheckpointError, match=r"says task 'captions'.*does detect"):
        load_weights(path)
    good = save_checkpoint(tmp_path / "ok.pt", model, ["a", "b"])
    assert load_weights(good).model.task == "detect"


@pytest.mark.parametrize(
    ("name", "criterion"), [("gelan-t", YOLOv9Loss), ("yolov9-t-seg", SegmentationLoss)]
)
def test_declared_outputs_and_terms_are_what_the_model_and_criterion_give(
    name: str, criterion: type
) -> None:
    torch.manual_seed(0)
    model = build_model(name, num_classes=3)
    task = get_task(model.task)
    assert task.outputs[:2] == BOX_OUTPUTS
    assert task.nms_outputs[:4] == BOX_NMS_OUTPUTS
    loss = task.criterion(model, LossConfig())
    assert type(loss) is criterion
    images = torch.rand(2, 3, 64, 64)
    boxes = torch.tensor([[0, 1, 8.0, 8.0, 40.0, 40.0], [1, 2, 20.0, 4.0, 60.0, 30.0]])
    masks = torch.zeros(2, 16, 16) if task.needs("masks") else None
    if masks is not None:
        masks[0, 2:10, 2:10] = 1
        masks[1, 1:8, 5:15] = 1
    parts = loss(model.train()(images), Targets(boxes, masks)).parts
    assert [k for k in parts if "/" not in k] == list(task.loss_terms)
    decoded = TorchBackend(model.eval(), ["a", "b", "c"], imgsz=64).infer(images)
    given = [field for field in Decoded._fields if getattr(decoded, field) is not None]
    assert len(given) == len(task.outputs)


def test_postprocess_fills_the_declared_result_fields() -> None:
    image = np.zeros((48, 64, 3), np.uint8)
    tensor = torch.from_numpy(letterbox(image, 64)[0]).permute(2, 0, 1)[None].float() / 255
    info = letterbox(image, 64)[1]
    for name in ("gelan-t", "gelan-t-seg"):
        backend = TorchBackend(build_model(name, num_classes=2).eval(), ["a", "b"], imgsz=64)
        task = get_task(backend.task)
        det = backend.detect(tensor, conf=0.0, max_det=5)[0]
        fields = task.postprocess(det, (64, 64), info, PostprocessOptions())
        assert tuple(fields) == task.result_fields
        for field in task.result_fields:
            assert len(fields[field]) == len(det.boxes)


def test_a_head_kind_this_version_does_not_know_names_itself_as_its_task() -> None:
    with pytest.raises(CheckpointError, match="unknown task 'captions'"):
        get_task(HeadKind("captions").task)
