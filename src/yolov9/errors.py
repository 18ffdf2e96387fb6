"""Errors raised for bad input. Each message is one line that names the file or key and
says what to do; the CLI prints it without a traceback."""


class YOLOv9Error(Exception):
    """Base class of the errors a user can fix."""


class CheckpointError(YOLOv9Error):
    """A checkpoint could not be read or does not fit any known model."""


class DataError(YOLOv9Error):
    """An image, video, label file or dataset description is missing or malformed."""


class ConfigError(YOLOv9Error, ValueError):
    """A configuration key, value or option is invalid (also a ``ValueError``, so code that
    guards API calls with ``except ValueError`` keeps working)."""
