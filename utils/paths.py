"""Run directories: saved/models/<name>/<run_id>/ and saved/log/<name>/<run_id>/."""
import datetime
from pathlib import Path


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
