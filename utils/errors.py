"""The project's named errors. Each message tells the user what to do next."""
import re

# How torch re-raises an error from a DataLoader worker in the main process: the same class, whose
# message is the worker's whole traceback ("Caught DataError in DataLoader worker process 0.
# Original Traceback ... utils.errors.DataError: <message>").
_WORKER = re.compile(r"^Caught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback.*?\n[\w.]*\1: ", re.S)


class UserError(Exception):
    """An error the command lines print as its message alone. One raised inside a DataLoader worker
    keeps its own message, not the worker's traceback that torch wraps around it."""

    def __init__(self, message="", *args):
        if isinstance(message, str) and _WORKER.match(message):
            message = _WORKER.sub("", message, count=1).rstrip()
        super().__init__(message, *args)


class ConfigError(UserError, ValueError):
    """A config is invalid: the message names the key (dotted path) and the valid choices."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint file is missing, corrupt, unsafe, or does not fit the model."""


class DataError(UserError, RuntimeError):
    """A data file or folder is missing or malformed: the message names the file."""


class EmptySplitError(DataError):
    """A split holds no samples: an optional split (test) that the data does not have."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the run stops before saving anything."""


# What the command lines print as "error: <message>" (exit code 2) instead of a traceback.
USER_ERRORS = (ConfigError, DataError, CheckpointError)
