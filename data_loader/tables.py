"""Tables of records read from disk: CSV files read as text with their line numbers, and the problems
found in their rows and files, reported together."""
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from utils.errors import DataError

log = logging.getLogger("facetrain")


def read_csv(path, required, what):
    """A CSV read as strings (ids like 001498-1 stay as written); `line` = its line in the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable CSV: {e}") from e
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(df.columns)}, expected {list(required)}")
    df["line"] = np.arange(len(df)) + 2  # line 1 is the header
    return df


class Problems:
    """Bad rows and files, raised together in one DataError or (on_error='skip') skipped and counted."""

    def __init__(self, on_error, what):
        self.on_error, self.what, self.items = on_error, what, []

    def add(self, message):
        self.items.append(message)

    def finish(self):
        if not self.items:
            return 0
        shown = "\n  ".join(self.items[:10]) + (f"\n  ... ({len(self.items)} in all)" if len(self.items) > 10 else "")
        if self.on_error == "raise":
            raise DataError(f"{len(self.items)} problem(s) in {self.what}:\n  {shown}\n"
                            "Fix them, or set the dataset's on_error to 'skip' to leave them out.")
        log.warning(f"skipped {len(self.items)} problem(s) in {self.what} (on_error='skip'):\n  {shown}")
        return len(self.items)
