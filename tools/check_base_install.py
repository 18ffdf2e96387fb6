"""The base install works alone: run in a virtual environment holding only ``pip install .``
(and torch), as ``make check-base`` (part of ``make test``, so of CI) does.

A dependency the base package imports but ``pyproject.toml`` does not declare is invisible to
the test suite, which runs with every extra installed (an extra may bring it along). Here
there is nothing else, so:

1. no extra's package is importable (else this environment proves nothing);
2. every module of the package imports (modules that need an extra import it lazily);
3. every console command answers ``--help``, and ``python -m yolov9 --version`` runs;
4. the embedded demo runs end to end on a short schedule (generate, train, evaluate, predict),
   writing its annotated picture;
5. a command that needs an extra stops with one line naming the extra to install.

Prints one line per step and exits non-zero on the first failure.

    python tools/check_base_install.py [--epochs 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def extra_modules() -> list[str]:
    """The import names of every optional extra's packages, read from the installed package's
    metadata (pyproject.toml's extras); a package's import name is its name with '_' for '-'
    (true of all of them)."""
    from importlib import metadata

    names = set()
    for requirement in metadata.requires("yolov9") or []:
        spec, _, marker = requirement.partition(";")
        name = re.match(r"[A-Za-z0-9_.-]+", spec.strip())
        if "extra" in marker and name and name.group().lower() != "yolov9":
            names.add(name.group().lower().replace("-", "_"))
    return sorted(names)


def _fail(message: str) -> None:
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def _console_script() -> str:
    """The ``yolov9`` script installed next to this interpreter."""
    exe = Path(sys.executable).parent / "yolov9"
    if not exe.is_file():
        _fail(f"the yolov9 console script was not installed ({exe})")
    return str(exe)


def check_no_extras() -> None:
    modules = extra_modules()
    if not modules:  # no extras in the metadata: this check would prove nothing
        _fail("the installed yolov9 declares no optional extras")
    present = [m for m in modules if importlib.util.find_spec(m) is not None]
    if present:
        _fail(f"not a base install: {present} are importable; use a fresh virtual environment")
    print(f"ok: none of the extras' {len(modules)} packages is installed", flush=True)


def check_imports() -> int:
    import yolov9

    source = Path(yolov9.__file__).parent
    if "site-packages" not in str(source):
        _fail(f"yolov9 is imported from {source}, not from the installed package")
    names = ["yolov9"] + [
        m.name
        for m in pkgutil.walk_packages(yolov9.__path__, prefix="yolov9.")
        if not m.name.endswith("__main__")  # runs the CLI: checked as a command below
    ]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:  # report which module and why, as one line
            _fail(f"import {name}: {type(e).__name__}: {e}")
    for name in yolov9.__all__:  # the lazily re-exported public names resolve
        getattr(yolov9, name)
    print(f"ok: {len(names)} modules and {len(yolov9.__all__)} public names import", flush=True)
    return len(names)


def check_commands(work: Path) -> None:
    from yolov9.cli import build_parser

    exe = _console_script()
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = sorted(sub.choices)
    for command in [[], *([c] for c in commands)]:
        done = _run([exe, *command, "--help"], work)
        if done.returncode != 0:
            _fail(f"yolov9 {' '.join(command)} --help: exit {done.returncode}: {done.stderr}")
    done = _run([sys.executable, "-m", "yolov9", "--version"], work)
    if done.returncode != 0:
        _fail(f"python -m yolov9 --version: {done.stderr}")
    print(f"ok: yolov9 --help and {len(commands)} commands' --help: {' '.join(commands)}")


def check_demo(work: Path, epochs: int) -> Path:
    out = work / "demo"
    start = time.perf_counter()
    done = _run([_console_script(), "demo", "--epochs", str(epochs), "--out", str(out)], work)
    if done.returncode != 0:
        _fail(f"yolov9 demo --epochs {epochs}: exit {done.returncode}:\n{done.stderr[-3000:]}")
    picture = out / "new_scene_pred.jpg"
    best = out / "train" / "weights" / "best.pt"  # GELAN-T: nothing to convert
    for f in (picture, best, out / "val"):
        if not f.exists():
            _fail(f"the demo wrote no {f}")
    print(f"ok: yolov9 demo --epochs {epochs} in {time.perf_counter() - start:.0f} s ({picture})")
    return best


def check_extra_message(work: Path, weights: Path) -> None:
    exe = _console_script()
    done = _run([exe, "export", "--weights", str(weights), "--format", "onnx", "--out", "m"], work)
    lines = done.stderr.strip().splitlines()
    wanted = "pip install 'yolov9[export]'"
    if done.returncode != 2 or len(lines) != 1 or wanted not in lines[0]:
        _fail(f"export without the extra should be one line naming it, got {done.stderr!r}")
    print(f"ok: export without its extra: {lines[0]}")
    done = _run([exe, "serve", "--weights", str(weights)], work)
    lines = done.stderr.strip().splitlines()
    wanted = "pip install 'yolov9[serve]'"
    if done.returncode != 2 or len(lines) != 1 or wanted not in lines[0]:
        _fail(f"serve without the extra should be one line naming it, got {done.stderr!r}")
    print(f"ok: serve without its extra: {lines[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", help="work folder (default: a temporary one)")
    args = parser.parse_args()
    start = time.perf_counter()
    check_no_extras()
    check_imports()
    with tempfile.TemporaryDirectory(prefix="yolov9-base-") as tmp:
        work = Path(args.out or tmp)
        work.mkdir(parents=True, exist_ok=True)
        check_commands(work)
        weights = check_demo(work, args.epochs)
        check_extra_message(work, weights)
    print(f"base install checked in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
