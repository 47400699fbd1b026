"""The project's named errors. Each message tells the user what to do next."""


class ConfigError(ValueError):
    """A config is invalid: the message names the key (dotted path) and the valid choices."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, unsafe, or does not fit the model."""


class DataError(RuntimeError):
    """A data file or folder is missing or malformed: the message names the file."""


class EmptySplitError(DataError):
    """A split holds no samples: an optional split (test) that the data does not have."""


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the run stops before saving anything."""


# What the command lines print as "error: <message>" (exit code 2) instead of a traceback.
USER_ERRORS = (ConfigError, DataError, CheckpointError)
