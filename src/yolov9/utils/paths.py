"""Where yolov9 keeps files between runs, how run folders are named, and reading a JSON file
with one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from yolov9.errors import DataError

ENV_CACHE = "YOLOV9_CACHE_DIR"


def cache_dir() -> Path:
    """Downloads and label caches: ``$YOLOV9_CACHE_DIR``, else ``$XDG_CACHE_HOME/yolov9``,
    else ``~/.cache/yolov9``."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "yolov9"


def new_run_dir(base: str | Path, exist_ok: bool = False) -> Path:
    """``base`` if free (or ``exist_ok``), else ``base-2``, ``base-3`` ... (created)."""
    base = Path(base)
    if exist_ok or not base.exists():
        base.mkdir(parents=True, exist_ok=True)
        return base
    n = 2
    while Path(f"{base}-{n}").exists():
        n += 1
    path = Path(f"{base}-{n}")
    path.mkdir(parents=True)
    return path


def annotations_with(path: str | Path, key: str) -> bool:
    """Whether ``path`` is a JSON file (COCO-style) whose first ``annotations`` entry has
    ``key`` (``segments_info``: COCO panoptic; ``caption``: COCO captions). The first MiB
    decides when it shows the annotations without the key; otherwise the file is parsed."""
    path = Path(path)
    if path.suffix != ".json" or not path.is_file():
        return False
    with path.open("rb") as f:
        head = f.read(1 << 20)
    if f'"{key}"'.encode() not in head and b'"annotations"' in head:
        return False
    try:
        doc = json.loads(path.read_text())
    except ValueError:
        return False
    anns = doc.get("annotations") if isinstance(doc, dict) else None
    return bool(anns) and isinstance(anns, list) and isinstance(anns[0], dict) and key in anns[0]


def json_is_list(path: str | Path) -> bool:
    """Whether the JSON file at ``path`` holds a list (its first character, without parsing
    the file; False when it cannot be read, which its reader then reports)."""
    try:
        with Path(path).open("rb") as f:
            return f.read(4096).lstrip().startswith(b"[")
    except OSError:
        return False


def read_json(path: str | Path) -> Any:
    """A JSON file's content (a missing, unreadable or malformed file is one line)."""
    try:
        return json.loads(Path(path).read_text())
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    except ValueError as e:
        raise DataError(f"{path}: not valid JSON ({e})") from None
