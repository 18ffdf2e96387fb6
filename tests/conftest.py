"""Shared fixtures. The core suite generates its data; tests that need ``../shared`` skip."""

from __future__ import annotations

import http.server
import lzma
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
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


def panoptic_scene(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Sky, grass, a red and a blue block (``seed`` shifts the blocks): RGB uint8."""
    h, w = shape
    image = np.zeros((h, w, 3), np.uint8)
    image[: h * 2 // 5] = (200, 220, 255)
    image[h * 2 // 5 :] = (40, 160, 40)
    image[h // 2 + seed : h * 5 // 6, w // 5 : w * 2 // 5 + seed] = (250, 30, 30)
    image[h // 5 : h * 3 // 5, w * 5 // 8 - seed : w * 7 // 8] = (30, 30, 200)
    return image


def panoptic_test_model(things: int = 2, stuff: int = 3) -> nn.Module:
    """A gelan-t-pan whose output on :func:`panoptic_scene` has what panoptic fusion
    distinguishes: instances above 0.25 with distinct scores and partial, overlapping masks,
    several stuff classes, and thing-argmax pixels no instance covers. From the initial
    weights (whose class-branch features vanish): the class branch's last conv and BatchNorm
    standardise its maps over a scene, class logits near -1, mask coefficients and semantic
    logits scaled up."""
    from yolov9.models import build_model

    torch.manual_seed(3)
    model = build_model("gelan-t-pan", things, stuff_classes=stuff).eval()
    x = torch.from_numpy(panoptic_scene((128, 128))).permute(2, 0, 1)[None].float() / 255
    seen: dict[int, torch.Tensor] = {}
    hooks = [
        model.head.cls[level][1].conv.register_forward_hook(
            lambda _m, _i, y, level=level: seen.setdefault(level, y)
        )
        for level in range(3)
    ]
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        model(x)
        for hook in hooks:
            hook.remove()
        for level in range(3):
            block = model.head.cls[level][1]
            std = seen[level][0].std((1, 2)) + 1e-12
            block.conv.weight.div_(std[:, None, None, None])  # unit spread, beyond BN's eps
            bn = block.bn
            bn.running_mean.copy_(seen[level][0].mean((1, 2)) / std)
            bn.running_var.fill_(1.0 - bn.eps)
            bn.weight.fill_(1.0)
            bn.bias.zero_()
            last = model.head.cls[level][2]
            last.bias.fill_(-1.0)
            last.weight.copy_(torch.randn(last.weight.shape, generator=g) * 0.05)
            model.head.coef[level][2].weight.mul_(20)
        model.head.semantic.out.bias.zero_()
        model.head.semantic.out.weight.mul_(10)
    return model


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """An HTTP server on 127.0.0.1 serving ``tmp_path/served``: (url, folder, paths asked)."""
    root = tmp_path / "served"
    root.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args) -> None:
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root, requests
    finally:
        httpd.shutdown()
        httpd.server_close()


PAN_NAMES = ["a", "b"]
PAN_STUFF = ["sky", "grass", "road"]


@pytest.fixture(scope="session")
def pan_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`panoptic_test_model` saved with its names (``PAN_NAMES``, ``PAN_STUFF``) and a
    128 px input: a checkpoint whose output shows every case of the fusion rule."""
    from yolov9.checkpoints import save_checkpoint

    path = tmp_path_factory.mktemp("pan") / "pan.pt"
    meta = {"imgsz": 128, "stuff_names": PAN_STUFF}
    return save_checkpoint(path, panoptic_test_model(), PAN_NAMES, meta=meta)
