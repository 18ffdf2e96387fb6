"""Shared fixtures. The core suite generates its data; tests that need ``../shared`` skip."""

from __future__ import annotations

import lzma
import os
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
# a fixed thread count: runs compared bit for bit must not change it halfway because another
# process on the machine got busy (tests/utils/test_threads.py switches it back on)
os.environ.setdefault("YOLOV9_ADAPT_THREADS", "0")
SHARED = Path(os.environ.get("YOLOV9_SHARED", REPO.parent / "shared"))


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """In CI (``CI=true``) with ``../shared`` present, a test that reads it (a parity test)
    must run: its skip, for whatever reason, is turned into a failure."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and _ci() and SHARED.is_dir() and "shared" in item.fixturenames:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"parity test skipped under CI=true although {SHARED} exists: {reason}"
    return None


@pytest.fixture(scope="session")
def shared() -> Path:
    """The project's shared fixtures folder (``../shared``), or skip."""
    if not (SHARED / "parity").is_dir():
        pytest.skip(
            f"{SHARED} not present: reference fixtures live beside the repository in the "
            "project's CI and development machines, not in a fresh clone"
        )
    return SHARED


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and every conv bias a random value, so that
    fusion and conversion tests are sensitive to BN eps, means and biases."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            elif isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.5)
    return model


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Downloads and label caches of a test never touch the user's cache."""
    monkeypatch.setenv("YOLOV9_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small synthetic dataset written in all three formats (train 24, val 12 images)."""
    from yolov9.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("shapes")
    return write_dataset(
        root,
        splits={"train": 24, "val": 12},
        size=(256, 256),
        formats=("yolo", "coco", "voc"),
        background_every=6,
    )


@pytest.fixture(scope="session")
def seg_files(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The xz-compressed fixtures, decompressed once per run."""
    out = tmp_path_factory.mktemp("seg-parity")
    files = {}
    for name in ("gelan-c-seg-nc80", "yolov9-c-dseg-nc80"):
        src_path = shared / "parity" / "seg" / f"{name}.pt.xz"
        with lzma.open(src_path) as src, open(out / f"{name}.pt", "wb") as dst:
            shutil.copyfileobj(src, dst)
        files[name] = out / f"{name}.pt"
    return files


@pytest.fixture(scope="session")
def pan_checkpoint(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The authors' GELAN-C-PAN fixture, decompressed once per run."""
    path = tmp_path_factory.mktemp("pan-parity") / "gelan-c-pan-nc80.pt"
    src_path = shared / "parity" / "pan" / "gelan-c-pan-nc80.pt.xz"
    with lzma.open(src_path) as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path
