"""Python logging for a run: console (main process only) and a text log in the run's log dir."""
import logging
import sys

from utils import dist

LOGGER_NAME = "facetrain"


def setup_logging(log_file=None, level=logging.INFO, console=None):
    """(Re)configure the project's logger; returns it. `console`: the stream it prints to (stdout)."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(level if dist.is_main() else logging.WARNING)
    logger.propagate = False
    handler = logging.StreamHandler(console or sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    if log_file is not None and dist.is_main():
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    return logger
