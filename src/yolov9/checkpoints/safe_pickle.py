"""Read torch ``.pt`` files without executing anything from them.

The authors' checkpoints are pickles of whole ``nn.Module`` objects whose classes live in
their code base (``models.yolo.DetectionModel``, ``models.common.Conv`` ...). ``torch.load``
would have to import that code and run it. Instead we read the zip container ourselves and
unpickle with an allow-list:

* tensor and parameter rebuilding, storages, ``torch.Size``, dtypes and devices are real;
* classes of model code (``models.*``, ``utils.*``, ``torch.nn.modules.*`` ...) become inert
  :class:`ModuleStub` objects that only keep their attribute dict (so ``_parameters``,
  ``_buffers``, ``_modules`` and plain attributes such as ``names`` survive);
* ``collections.OrderedDict``, ``set``, ``argparse.Namespace`` data, ``pathlib`` paths (read as
  strings) and NumPy scalars/arrays are reconstructed as data;
* ``getattr(<stub class>, 'forward')`` (how the authors' segmentation heads pickle their
  parent's ``forward``) becomes an inert string; ``getattr`` on anything else is refused;
* anything else (``os.system``, ``builtins.eval``, ``functools.partial`` ...) is refused with a
  :class:`CheckpointError` that names it.

No ``__init__``, ``__setstate__`` or ``__reduce__`` of a referenced class ever runs.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from yolov9.errors import CheckpointError

# Module prefixes whose classes are replaced by inert stubs.
_STUB_PREFIXES = ("models.", "utils.", "yolo.", "ultralytics.", "torch.nn.modules.", "__main__")

_STORAGE_DTYPES = {
    "HalfStorage": torch.float16,
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}


class ModuleStub:
    """Inert stand-in for a class referenced by a pickle; keeps only the pickled state."""

    qualified_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> ModuleStub:
        obj = object.__new__(cls)
        obj.__dict__["_stub_args"] = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}  # (dict, slots) form
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_stub_state"] = state

    def __repr__(self) -> str:
        return f"<stub {self.qualified_name}>"


_stub_cache: dict[str, type[ModuleStub]] = {}


def _stub_class(module: str, name: str) -> type[ModuleStub]:
    qualified = f"{module}.{name}"
    if qualified not in _stub_cache:
        _stub_cache[qualified] = type(name, (ModuleStub,), {"qualified_name": qualified})
    return _stub_cache[qualified]


class _StorageRef:
    def __init__(self, data: torch.UntypedStorage, dtype: torch.dtype) -> None:
        self.data, self.dtype = data, dtype


def _rebuild_tensor(
    storage: _StorageRef,
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> Tensor:
    t = torch.empty(0, dtype=storage.dtype)
    if storage.data.nbytes():
        t.set_(storage.data, offset, size, stride)
    else:
        t = torch.empty(size, dtype=storage.dtype)
    return t


def _rebuild_parameter(data: Tensor, requires_grad: bool, *_: Any) -> Tensor:
    return torch.nn.Parameter(data, requires_grad=requires_grad)


def _path_as_str(*parts: Any) -> str:
    return str(Path(*map(str, parts)))


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> Any:
    return np.frombuffer(data or b"", dtype=dtype)[0] if data else dtype.type()


def _stub_getattr(owner: Any, name: Any) -> str:
    """``getattr`` for one pickled form only: the authors' segmentation heads store
    ``Detect.forward`` as an attribute, pickled as ``getattr(models.yolo.Detect, 'forward')``.
    On a stand-in class this yields an inert label; any other use is refused."""
    if isinstance(owner, type) and issubclass(owner, ModuleStub) and name == "forward":
        return f"{owner.qualified_name}.forward"
    raise CheckpointError(
        f"refusing to load: the pickle calls getattr({owner!r}, {name!r}), which is not model "
        "data. Only load checkpoints from sources you trust."
    )


_ALLOWED: dict[tuple[str, str], Any] = {
    ("builtins", "getattr"): _stub_getattr,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("pathlib", "PosixPath"): _path_as_str,
    ("pathlib", "WindowsPath"): _path_as_str,
    ("pathlib", "Path"): _path_as_str,
    ("argparse", "Namespace"): _stub_class("argparse", "Namespace"),
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): np.ndarray.__new__,
    ("numpy._core.multiarray", "_reconstruct"): np.ndarray.__new__,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, source: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.source = archive, prefix, source

    def find_class(self, module: str, name: str) -> Any:
        if module == "__builtin__":
            module = "builtins"
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if (module == "numpy" and name.endswith("Dtype")) or module == "numpy.dtypes":
            return np.dtype
        if module.startswith(_STUB_PREFIXES):
            return _stub_class(module, name)
        raise CheckpointError(
            f"{self.source}: refusing to load: the pickle references {module}.{name}, which is "
            "not model data. Only load checkpoints from sources you trust."
        )

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"{self.source}: unsupported persistent id {pid!r}")
        _, storage_type, key, _location, _numel = pid
        dtype = _STORAGE_DTYPES.get(storage_type) if isinstance(storage_type, str) else None
        if dtype is None:
            raise CheckpointError(f"{self.source}: unsupported storage type {storage_type!r}")
        try:
            raw = bytearray(self.archive.read(f"{self.prefix}/data/{key}"))
        except KeyError as e:
            raise CheckpointError(f"{self.source}: tensor data {key} missing (truncated?)") from e
        if not raw:
            return _StorageRef(torch.UntypedStorage(0), dtype)
        return _StorageRef(torch.frombuffer(raw, dtype=torch.uint8).untyped_storage(), dtype)


def read_torch_file(path: str | Path) -> Any:
    """Unpickle a torch zip checkpoint (``torch.save`` since 1.6) with the allow-list above."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise CheckpointError(f"{source}: no such file")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise CheckpointError(
            f"{source}: not a torch checkpoint (expected a zip container written by torch.save; "
            "the file may be truncated or of another format)"
        ) from e
    with archive:
        pkl = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise CheckpointError(f"{source}: zip file without data.pkl: not a torch checkpoint")
        prefix = pkl[0].rsplit("/", 1)[0] if "/" in pkl[0] else ""
        order = f"{prefix}/byteorder"
        if order in archive.namelist() and archive.read(order).strip() != b"little":
            raise CheckpointError(f"{source}: big-endian checkpoints are not supported")
        try:
            data = archive.read(pkl[0])
            return _RestrictedUnpickler(data, archive, prefix, source).load()
        except CheckpointError:
            raise
        except (zipfile.BadZipFile, EOFError, pickle.UnpicklingError, OSError) as e:
            raise CheckpointError(f"{source}: damaged checkpoint ({e})") from e
        except Exception as e:  # a malformed pickle can raise nearly anything while loading
            raise CheckpointError(
                f"{source}: unreadable checkpoint ({type(e).__name__}: {e})"
            ) from e


def stub_state_dict(obj: Any, prefix: str = "") -> dict[str, Tensor]:
    """``state_dict()`` of an unpickled module tree (stubs or plain dicts of the same shape)."""
    state = obj.__dict__ if isinstance(obj, ModuleStub) else obj
    out: dict[str, Tensor] = {}
    skip = set(state.get("_non_persistent_buffers_set", ()) or ())
    for name, value in (state.get("_parameters") or {}).items():
        if value is not None:
            out[prefix + name] = value
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in skip:
            out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(stub_state_dict(child, f"{prefix}{name}."))
    return out
