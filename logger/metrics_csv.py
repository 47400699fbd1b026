"""metrics.csv: one row per epoch, every scalar logged; columns grow as new keys appear."""
import csv
import os
from pathlib import Path


class MetricsCSV:
    def __init__(self, path):
        self.path = Path(path)
        self.rows = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = [dict(r) for r in csv.DictReader(f)]

    def truncate(self, last_epoch):
        """Drop rows after `last_epoch` (written after the checkpoint a run resumes from)."""
        self.rows = [r for r in self.rows if int(float(r["epoch"])) <= last_epoch]
        self._write()

    def append(self, row):
        self.rows.append({k: _cell(v) for k, v in row.items()})
        self._write()

    def _write(self):
        columns = []
        for r in self.rows:
            columns += [k for k in r if k not in columns]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)


def _cell(v):
    return f"{v:.6g}" if isinstance(v, float) else v
