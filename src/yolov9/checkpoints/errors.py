"""Errors of the checkpoint layer (one-line messages that say what to do)."""


class CheckpointError(Exception):
    """A checkpoint file could not be read or does not fit any known model."""
