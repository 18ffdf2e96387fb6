"""Packages that belong to an optional extra (``pip install 'yolov9[export]'`` ...).

The base install imports none of them at module level: code that needs one calls
:func:`require` where the work starts, which stops with one line naming what is missing and
the extra that brings it. ``make test`` checks that the base install imports every module
and runs the demo without any extra (``tools/check_base_install.py``).
"""

from __future__ import annotations

import importlib.util

from yolov9.errors import ConfigError

# import name -> the package to install, where they differ (pyproject.toml's extras)
DISTRIBUTIONS = {
    "litert_torch": "litert-torch",
    "ai_edge_litert": "ai-edge-litert",
    "ai_edge_quantizer": "ai-edge-quantizer",
    "python_multipart": "python-multipart",
    "prometheus_client": "prometheus-client",
}


def missing(*modules: str) -> list[str]:
    """The packages (by their install names) of ``modules`` that cannot be imported."""
    return [DISTRIBUTIONS.get(m, m) for m in modules if importlib.util.find_spec(m) is None]


def require(what: str, extra: str, *modules: str) -> None:
    """Raise a one-line :class:`ConfigError` when any of ``modules`` is not installed:
    ``"<what> needs onnx, onnxruntime: pip install 'yolov9[export]'"``."""
    absent = missing(*modules)
    if absent:
        raise ConfigError(f"{what} needs {', '.join(absent)}: pip install 'yolov9[{extra}]'")
