"""Published weights by name: download once into a cache, verify, refuse on mismatch.

``yolov9-c-converted``, ``yolov9-c``, ``gelan-c`` ... are the authors' release files (tag
v0.1); ``v9-s`` ... are the MIT rewrite's. Set ``YOLOV9_WEIGHTS_URL`` to a mirror that serves
the same file names, and ``YOLOV9_CACHE_DIR`` to move the cache (default
``$XDG_CACHE_HOME/yolov9`` or ``~/.cache/yolov9``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from yolov9.checkpoints.native import atomic_write
from yolov9.errors import CheckpointError
from yolov9.utils.paths import cache_dir

log = logging.getLogger(__name__)

OFFICIAL_URL = "https://github.com/WongKinYiu/yolov9/releases/download/v0.1"
MIT_URL = "https://github.com/MultimediaTechLab/YOLO/releases/download/v1.0-alpha"
ENV_URL = "YOLOV9_WEIGHTS_URL"


@dataclass(frozen=True)
class ReleaseFile:
    filename: str
    base_url: str
    sha256: str | None = None  # None where no published checksum is known
    size: int | None = None


# Checksums as recorded in ../shared/weights/README.md (the release page's files).
_KNOWN_SHA = {
    "yolov9-c-converted.pt": (
        "39b6b490b1e4034b4fefdcdac81380155e0a30ba6c938a9751e2c351f81a517f",
        51477927,
    ),
    "yolov9-e-converted.pt": (
        "6763139daa09adfe3c694226725b460211f1f717b971bfade10a548b600716e2",
        117160386,
    ),
    "yolov9-c.pt": ("e441b2dc84bd581b50a13c745864532c828da7508539b32a6fd603a745d5d94a", 103153312),
    "yolov9-e.pt": ("c275516cc0451f99871ce9a0f3d244528a9d16ae70c7b1868ec4d3a2754189f2", 140217688),
    "gelan-e.pt": ("11777ccf5faf5d4a23ef1a2059a88b7eb972c1b2f81a3f68960121c1f391130d", 117203713),
    "yolov9-c-seg.pt": (
        "7ded064ebf782a7090a6a1fc4aa5bdbe457d24a6b56b92016877b0dadff41f8d",
        116904429,
    ),
}


def _release(filename: str, base: str) -> ReleaseFile:
    sha, size = _KNOWN_SHA.get(filename, (None, None))
    return ReleaseFile(filename, base, sha, size)


RELEASES: dict[str, ReleaseFile] = {
    **{
        f"yolov9-{s}-converted": _release(f"yolov9-{s}-converted.pt", OFFICIAL_URL) for s in "tsmce"
    },
    **{f"yolov9-{s}": _release(f"yolov9-{s}.pt", OFFICIAL_URL) for s in "smce"},
    **{f"gelan-{s}": _release(f"gelan-{s}.pt", OFFICIAL_URL) for s in "smce"},
    **{
        n: _release(f"{n}.pt", OFFICIAL_URL) for n in ("gelan-c-seg", "yolov9-c-seg", "gelan-c-pan")
    },
    **{f"v9-{s}": _release(f"v9-{s}.pt", MIT_URL) for s in "tsmc"},
}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, *, sha256: str | None = None, progress: bool = True) -> Path:
    """Stream ``url`` into ``dest`` atomically; verify ``sha256`` before the file appears."""

    def fetch(tmp: Path) -> None:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                bar = tqdm(
                    total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress
                )
                with bar:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError) as e:
            raise CheckpointError(
                f"download of {url} failed ({e}); check the network, set {ENV_URL} to a mirror, "
                f"or download the file yourself and pass its path"
            ) from None
        if sha256 is not None:
            got = sha256_of(tmp)
            if got != sha256:
                raise CheckpointError(
                    f"{url}: sha256 mismatch (expected {sha256}, got {got}); refusing the file"
                )

    return atomic_write(dest, fetch)


def resolve_weights(weights: str | Path, *, progress: bool = True) -> Path:
    """A local path as is; a release name (``yolov9-c-converted``) downloaded into the cache."""
    path = Path(weights).expanduser()
    if path.is_file():
        return path
    name = str(weights).removesuffix(".pt")
    release = RELEASES.get(name)
    if release is None:
        if path.suffix or os.sep in str(weights):
            raise CheckpointError(f"weights file not found: {weights}")
        known = ", ".join(sorted(RELEASES))
        raise CheckpointError(f"unknown weights {str(weights)!r}: not a file nor one of {known}")
    dest = cache_dir() / release.filename
    if dest.is_file():
        if release.sha256 is None or sha256_of(dest) == release.sha256:
            return dest
        log.warning("%s: cached file fails its checksum; downloading again", dest)
    base = os.environ.get(ENV_URL, release.base_url).rstrip("/")
    url = f"{base}/{release.filename}"
    log.info("downloading %s -> %s", url, dest)
    download(url, dest, sha256=release.sha256, progress=progress)
    if release.sha256 is None:
        log.warning("%s: no published sha256 to verify against; got %s", name, sha256_of(dest))
    return dest
