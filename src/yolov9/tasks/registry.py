"""The tasks by name: the one place a task name is turned into its :class:`Task`."""

from __future__ import annotations

from yolov9.errors import CheckpointError
from yolov9.tasks import NAMES
from yolov9.tasks.all import ALL
from yolov9.tasks.base import Task
from yolov9.tasks.caption import CAPTION
from yolov9.tasks.detect import DETECT
from yolov9.tasks.panoptic import PANOPTIC
from yolov9.tasks.segment import SEGMENT

TASKS: dict[str, Task] = {t.name: t for t in (DETECT, SEGMENT, PANOPTIC, CAPTION, ALL)}
assert tuple(TASKS) == NAMES, "tasks/__init__.NAMES lists the registered tasks"


def get_task(name: str, source: object = "") -> Task:
    """The task called ``name``; ``source`` (a file) names where the name was read.

    Raises:
        CheckpointError: no such task (one line, naming it and the file).
    """
    try:
        return TASKS[name]
    except KeyError:
        where = f"{source}: " if source else ""
        raise CheckpointError(
            f"{where}unknown task {name!r} (this version of yolov9 knows "
            f"{', '.join(TASKS)}): update yolov9, or export the model again"
        ) from None
