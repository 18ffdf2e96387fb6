"""The benchmark scripts are not run by the suite (they are long), but what they import from
the package must exist: a module moved or a name renamed breaks them silently otherwise."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.name)
def test_package_imports_of_benchmark_scripts_resolve(script: Path) -> None:
    missing = []
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("yolov9"):
            try:
                module = importlib.import_module(node.module or "")
            except ModuleNotFoundError:
                missing.append(f"{node.module} (line {node.lineno})")
                continue
            missing += [
                f"{node.module}.{a.name} (line {node.lineno})"
                for a in node.names
                if not hasattr(module, a.name)
                and importlib.util.find_spec(f"{node.module}.{a.name}") is None
            ]
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("yolov9") and importlib.util.find_spec(a.name) is None:
                    missing.append(f"{a.name} (line {node.lineno})")
    assert not missing, f"{script.name} imports names that do not exist: {missing}"
