"""A task is one object (``yolov9.tasks``): outside the tasks package no code compares a task
name (``model.task == "segment"``, ``task != "detect"``, ``backend.task in (...)``); it looks
the task up and asks it. docs/architecture.md, "A new task", says where each part plugs in."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "yolov9"


def _mentions_task(node: ast.expr) -> bool:
    """An expression that holds a task or its name: ``task``, ``x.task``, ``task.name``,
    ``get_task(x).name`` ..."""
    if isinstance(node, ast.Name):
        return "task" in node.id.lower()
    if isinstance(node, ast.Attribute):  # x.task, or task.name
        return "task" in node.attr.lower() or _mentions_task(node.value)
    if isinstance(node, ast.Call):  # get_task(x), or getattr(x, "task", ...)
        named = [a.value for a in node.args if isinstance(a, ast.Constant)]
        return _mentions_task(node.func) or any("task" in str(n) for n in named)
    return False


def _is_text(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_text(e) for e in node.elts)
    return False


def task_name_comparisons(source: str) -> list[int]:
    """Lines of ``source`` that compare a task-valued expression with literal text."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(map(_mentions_task, operands)) and any(map(_is_text, operands)):
                lines.append(node.lineno)
    return lines


def test_the_check_finds_comparisons() -> None:
    code = """
a = model.task == "segment"
b = backend.task != 'detect'
c = task in ("detect", "segment")
d = get_task(x).name == "segment"
e = parse(n).task == "segment"
f = getattr(model, "task", "detect") != "detect"
ok1 = backend.task != model.task
ok2 = head.name == "segment"
ok3 = task.gives("masks")
"""
    assert task_name_comparisons(code) == [2, 3, 4, 5, 6, 7]


def test_no_task_name_comparisons_outside_the_tasks_package() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "tasks":
            continue
        found += [f"{rel}:{line}" for line in task_name_comparisons(path.read_text())]
    assert not found, (
        "compare no task names outside yolov9/tasks; ask the task (yolov9.tasks.registry."
        f"get_task(...)) what differs: {found}"
    )
