"""The package's layers: no module imports a higher layer (lazy imports inside functions
included), packages of one layer do not import each other, and there are no import cycles
(inside a package too, lazy imports included).
docs/architecture.md describes the same order."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "yolov9"

# lowest first; a module may import its own layer's package and any lower layer
LAYERS: list[set[str]] = [
    {"version", "errors"},
    {"utils"},
    {"ops", "track"},
    {"models", "data"},
    {"loss", "metrics", "checkpoints"},
    {"config"},
    {"tasks"},
    {"inference"},
    {"engine"},
    {"deploy"},
    {"api"},
    {"serving"},
    {"demo"},
    {"cli"},
    {"__main__"},
]


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "yolov9"


def _imports(path: Path, module: str) -> list[tuple[str, bool]]:
    """(imported yolov9 module, at module level?) for every import in ``path`` (the module
    ``module``); relative imports are resolved against its package. ``from pkg import name``
    gives ``pkg`` and ``pkg.name`` (the latter is a module when ``name`` is one)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{target}" if target else base
            if target.startswith("yolov9"):
                found.append((target, id(node) in top))
                found += [(f"{target}.{a.name}", id(node) in top) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, id(node) in top) for a in node.names if a.name.startswith("yolov9")]
    return found


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        out[name] = path
    return out


def _layer(component: str) -> int:
    for i, layer in enumerate(LAYERS):
        if component in layer:
            return i
    raise AssertionError(f"{component!r} is in no layer: add it to LAYERS and the docs")


def test_no_module_imports_a_higher_layer() -> None:
    problems = []
    for name, path in _modules().items():
        own = _component(name)
        if own == "yolov9":  # the package root re-exports the public API lazily
            continue
        for imported, _ in _imports(path, name):
            other = _component(imported)
            if other == own:
                continue
            if other == "yolov9":
                problems.append(f"{name} imports the package root")
            elif _layer(other) >= _layer(own):
                problems.append(f"{name} ({own}) imports {imported} ({other})")
    assert problems == []


def _imported_modules(path: Path, module: str, modules: dict[str, Path]) -> set[str]:
    """The package modules ``module`` imports, lazily or not."""
    return {m for m, _ in _imports(path, module) if m in modules and m != module}


def test_no_import_cycles() -> None:
    """No module reaches itself through imports, counting imports inside functions too: a
    lazy import hides a circle from Python, not from the reader (deploy/export.py once
    imported the NCNN, LiteRT and CoreML exporters, which imported it back)."""
    modules = _modules()
    graph = {name: _imported_modules(path, name, modules) for name, path in modules.items()}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_every_package_has_a_layer() -> None:
    components = {_component(n) for n in _modules()} - {"yolov9"}
    for component in components:
        _layer(component)
