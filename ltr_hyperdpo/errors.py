"""Errors that are the user's to fix. The CLI prints each as one line (``ltr-hyperdpo CMD: error: ...``), exit 2.

Every layer raises these (or plain ``ValueError`` / ``OSError`` with a message that names the file, line, key or
value); anything else reaching the CLI is a bug and is reported as one line too, with ``--debug`` for the traceback.
"""
from __future__ import annotations

#: set on an exception another process re-raises after rank 0 raised (and reported) it (torchrun)
RAISED_ON_RANK0 = "ltr_hyperdpo_raised_on_rank0"


class UserError(Exception):
    """Base class: a problem with the input, the configuration or the run directory, not with the program."""


class ConfigError(UserError, ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range; the message names the key."""


class DataError(UserError, ValueError):
    """Input data cannot be used; the message names the file (and the line where there is one)."""


class RunDirError(UserError):
    """The run directory is in use, holds another run, or does not match the requested resume."""


class CheckpointError(UserError):
    """A checkpoint or saved model file is missing or damaged; the message says which and how to continue."""


class TrainingDivergedError(UserError, RuntimeError):
    """The loss became NaN/inf; the last good checkpoint is kept."""


__all__ = ["UserError", "ConfigError", "DataError", "RunDirError", "CheckpointError", "TrainingDivergedError"]
