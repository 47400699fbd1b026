"""Run under torchrun: train.py's main on each config in turn, in one process group (one launch
instead of one per recipe). Rank 0 writes {config file name: exit code} to the first argument.

    python -m torch.distributed.run --nproc_per_node 2 tests/torchrun_recipes.py codes.json a.json b.json
"""
import json
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import train  # noqa: E402
from utils import dist  # noqa: E402


def main(out, *configs):
    codes = {}
    for path in configs:
        try:
            codes[Path(path).name] = train.main(["--config", path])
        except Exception:  # one recipe's crash must not hide the others' results
            traceback.print_exc()
            codes[Path(path).name] = "crashed"
        if dist.is_main():
            Path(out).write_text(json.dumps(codes))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
