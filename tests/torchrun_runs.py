"""Run under torchrun: train.py's main for each run of a list, in turn, in one process group (one launch
instead of one per run). Rank 0 writes {run name: exit code} to `codes`.

    python -m torch.distributed.run --nproc_per_node 2 tests/torchrun_runs.py codes.json runs.json

runs.json: [{"name": ..., "argv": [train.py arguments]}, ...]; an argument "@last:<models dir>" stands
for the model_last.pth of the one run in that directory (a resume of an earlier run of the list).
"""
import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train
from utils import dist


def resolve(arg):
    if not arg.startswith("@last:"):
        return arg
    (path,) = Path(arg[len("@last:"):]).glob("*/model_last.pth")
    return str(path)


def main(out, runs):
    codes = {}
    for run in json.loads(Path(runs).read_text()):
        try:
            codes[run["name"]] = train.main([resolve(a) for a in run["argv"]])
        except Exception:  # one run's crash must not hide the others' results
            traceback.print_exc()
            codes[run["name"]] = "crashed"
        if dist.is_main():
            Path(out).write_text(json.dumps(codes))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
