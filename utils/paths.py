"""Run directories: saved/models/<name>/<run_id>/ and saved/log/<name>/<run_id>/, and writing a file whole."""
import contextlib
import datetime
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside `path` (same suffix, for writers that read it) to write to; renamed onto `path`
    when the block ends, removed when it fails: a crash or an error never leaves a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")  # processes writing in turn
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class RunPaths:
    def __init__(self, save_dir, name, run_id):
        self.save_dir, self.name, self.run_id = Path(save_dir), name, run_id
        self.models = self.save_dir / "models" / name / run_id
        self.log = self.save_dir / "log" / name / run_id

    @classmethod
    def create(cls, save_dir, name, run_id=None):
        """A new run; the id is a timestamp, suffixed when another run took it the same second."""
        base = run_id or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        for i in range(1000):
            candidate = base if i == 0 else f"{base}-{i}"
            paths = cls(save_dir, name, candidate)
            try:
                paths.models.mkdir(parents=True, exist_ok=False)  # exclusive: this claims the id
            except FileExistsError:
                if run_id:
                    raise FileExistsError(f"run dir {paths.models} already exists; pick another run id")
                continue
            paths.log.mkdir(parents=True, exist_ok=True)
            return paths
        raise RuntimeError(f"could not find a free run id under {save_dir}/models/{name}")

    def ensure(self):
        self.models.mkdir(parents=True, exist_ok=True)
        self.log.mkdir(parents=True, exist_ok=True)
        return self
