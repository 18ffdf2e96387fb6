"""The tasks: what differs between detection, instance segmentation and the tasks to come,
one module (or folder) per task, looked up by name in :mod:`yolov9.tasks.registry`.

This module is import-light (no torch) so that the command line's parsers can list the
task names; the task objects live in ``base``, ``detect``, ``segment`` and ``registry``.
"""

NAMES = (
    "detect",
    "segment",
    "panoptic",
    "caption",
    "all",
)  # the registered tasks, in the registry's order
DEMO_NAMES = (
    "detect",
    "segment",
    "panoptic",
    "caption",
    "all",
)  # the tasks with an embedded demo (``Task.demo``)
