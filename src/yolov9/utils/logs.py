"""Logging set-up for the command line (library code only creates loggers)."""

from __future__ import annotations

import logging
import sys


def setup_logging(verbosity: int = 0) -> None:
    """-1 quiet (warnings), 0 normal (info), 1 verbose (debug); messages go to stderr."""
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("yolov9")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
