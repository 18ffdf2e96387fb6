"""Packages of an optional extra: a command that needs one that is missing stops with one line
naming the package and the extra to install, before any work."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from yolov9.checkpoints import save_checkpoint
from yolov9.cli import main
from yolov9.errors import ConfigError
from yolov9.models import build_model
from yolov9.utils.optional import missing, require


def test_require_names_the_packages_and_the_extra() -> None:
    require("nothing", "export", "json")  # present: no error
    assert missing("json", "yolov9_no_such_module") == ["yolov9_no_such_module"]
    with pytest.raises(ConfigError) as info:
        require("--format onnx", "export", "json", "yolov9_no_such_module", "litert_torch")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("--format onnx needs yolov9_no_such_module")
    assert message.endswith("pip install 'yolov9[export]'")


def _hide(monkeypatch: pytest.MonkeyPatch, *hidden: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name in hidden else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


@pytest.mark.parametrize(
    ("fmt", "hidden", "extra"),
    [
        ("onnx", ("onnxruntime",), "export"),
        ("openvino", ("openvino",), "export"),
        ("ncnn", ("pnnx",), "ncnn"),
        ("tflite", ("litert_torch",), "litert"),
        ("coreml", ("coremltools",), "coreml"),
    ],
)
def test_export_without_its_extra_is_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    hidden: tuple[str, ...],
    extra: str,
) -> None:
    weights = tmp_path / "m.pt"
    save_checkpoint(weights, build_model("gelan-t", num_classes=2), ["a", "b"])
    _hide(monkeypatch, *hidden)
    argv = ["export", "--weights", str(weights), "--format", fmt, "--imgsz", "64"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: --format {fmt} needs {hidden[0].replace('_', '-')}")
    assert err[0].endswith(f"pip install 'yolov9[{extra}]'")
    assert not list(tmp_path.glob("out*"))  # stopped before any work


def test_running_an_export_without_its_runtime_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yolov9.inference.exported import OnnxBackend

    _hide(monkeypatch, "onnxruntime")
    with pytest.raises(ConfigError, match=r"m\.onnx: running it needs onnxruntime: pip install"):
        OnnxBackend(tmp_path / "m.onnx")


def test_every_export_format_says_what_it_needs() -> None:
    from yolov9.deploy.export import NEEDS
    from yolov9.deploy.formats import FORMATS

    assert set(NEEDS) == set(FORMATS)
