"""Weights by name: downloads from a server on 127.0.0.1, cache, checksum refusal."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from yolov9.checkpoints import hub, load_weights, save_checkpoint
from yolov9.errors import CheckpointError
from yolov9.models import build_model
from yolov9.utils import paths


@pytest.fixture
def release(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server) -> tuple[Path, str]:
    url, root, _ = server
    payload = save_checkpoint(
        root / "gelan-t.pt", build_model("gelan-t", num_classes=2), ["a", "b"]
    )
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    monkeypatch.setenv(hub.ENV_URL, url)
    monkeypatch.setenv(paths.ENV_CACHE, str(tmp_path / "cache"))
    return payload, digest


def test_download_verify_and_cache(monkeypatch: pytest.MonkeyPatch, server, release) -> None:
    _, _, requests = server
    _, digest = release
    monkeypatch.setitem(hub.RELEASES, "gelan-t", hub.ReleaseFile("gelan-t.pt", "unused", digest))
    loaded = load_weights("gelan-t", progress=False)
    assert loaded.names == ["a", "b"]
    assert loaded.path.parent.name == "cache"
    load_weights("gelan-t", progress=False)
    assert requests == ["/gelan-t.pt"]  # the second call used the cache


def test_checksum_mismatch_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, release
) -> None:
    monkeypatch.setitem(hub.RELEASES, "gelan-t", hub.ReleaseFile("gelan-t.pt", "unused", "0" * 64))
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        hub.resolve_weights("gelan-t", progress=False)
    assert not any((tmp_path / "cache").glob("*"))


def test_missing_file_on_server(monkeypatch: pytest.MonkeyPatch, release) -> None:
    monkeypatch.setitem(hub.RELEASES, "gelan-s", hub.ReleaseFile("gelan-s.pt", "unused"))
    with pytest.raises(CheckpointError, match=r"download of .*gelan-s.pt failed"):
        hub.resolve_weights("gelan-s", progress=False)


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(CheckpointError, match=r"unknown weights 'yolov9-x'.*yolov9-c-converted"):
        hub.resolve_weights("yolov9-x")


def test_release_table_has_published_checksums() -> None:
    assert hub.RELEASES["yolov9-c-converted"].sha256 == (
        "39b6b490b1e4034b4fefdcdac81380155e0a30ba6c938a9751e2c351f81a517f"
    )
    assert hub.RELEASES["yolov9-c"].base_url == hub.OFFICIAL_URL
    seg = hub.RELEASES["yolov9-c-seg"]  # ../shared/weights/README.md
    assert seg.sha256 == "7ded064ebf782a7090a6a1fc4aa5bdbe457d24a6b56b92016877b0dadff41f8d"
    assert (seg.filename, seg.size) == ("yolov9-c-seg.pt", 116_904_429)
    assert hub.RELEASES["gelan-c-seg"].sha256 is None  # no published checksum known
