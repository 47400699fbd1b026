"""Peak memory of the seed wrinkle recipe (U-Net ResNet-34, 1248x1344 crops) under the memory
options, each variant in a fresh process: torch.cuda.max_memory_allocated on a GPU; on CPU the
growth of peak RSS from just before training (model, optimizer, activations and data). The
effective batch never changes. AMP variants run only on CUDA: bf16 autocast on a CPU is slow
and its memory says nothing about a GPU.

    python benchmarks/memory.py                      # CPU
    python benchmarks/memory.py --device cuda --batch-size 8
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time

import torch
from common import InMemory, table, write  # noqa: F401  (registers InMemory)

from trainer import Trainer, run_training

VARIANTS = {
    "fp32": {},
    "checkpointing": {"activation_checkpointing": True},
    "checkpointing + micro-batch 1": {"activation_checkpointing": True, "micro_batch_size": 1},
    "amp": {"amp": "bf16"},
    "amp + channels_last": {"amp": "bf16", "channels_last": True},
    "amp + checkpointing": {"amp": "bf16", "activation_checkpointing": True},
    "amp + checkpointing + micro-batch 1": {"amp": "bf16", "activation_checkpointing": True, "micro_batch_size": 1},
}


def config(args, options, save_dir):
    return {
        "name": "bench_memory", "seed": 0, "device": args.device,
        "data": {"dataset": {"type": "InMemory", "args": {"size": args.batch_size * args.steps,
                                                          "shape": [3, args.height, args.width]}},
                 "loader": {"batch_size": args.batch_size},
                 "train": {"loader": {"shuffle": True, "drop_last": True}},
                 "val": {"dataset": {"args": {"size": 1, "shape": [3, 64, 64]}}}},
        "model": {"type": "SegmentationModel", "args": {"arch": "Unet", "encoder_name": "resnet34",
                                                        "encoder_weights": None, "classes": 1}},
        "loss": {"type": "WeightedBCE", "args": {"pos_weight": 20.0}},
        "optimizer": {"type": "AdamW", "args": {"lr": 1e-4}},
        "trainer": {"epochs": 1, "train_metrics": False, "tensorboard": False, "progress": "none",
                    "save_dir": save_dir, **options},
    }


def child(args):
    """One variant: train `steps` steps, report peak memory and seconds per step (after the first)."""
    times = []
    real = Trainer._optimizer_step

    def timed(self):
        real(self)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter())

    Trainer._optimizer_step = timed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    with tempfile.TemporaryDirectory() as tmp:
        run_training(config(args, VARIANTS[args.variant], tmp))
    peak = torch.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda") else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    step_s = (times[-1] - times[0]) / max(len(times) - 1, 1)
    print(json.dumps({"variant": args.variant, "peak_mb": peak, "s_per_step": step_s}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--height", type=int, default=1344)
    p.add_argument("--width", type=int, default=1248)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.variant:
        return child(args)
    rows = []
    for name, options in VARIANTS.items():
        if "amp" in options and not args.device.startswith("cuda"):
            continue
        cmd = [sys.executable, __file__, "--variant", name, "--device", args.device, "--height", str(args.height),
               "--width", str(args.width), "--batch-size", str(args.batch_size), "--steps", str(args.steps)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            rows.append({"variant": name, "error": out.stderr.strip().splitlines()[-1]})
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = rows[0].get("peak_mb")
    for r in rows:
        if base and r.get("peak_mb"):
            r["peak vs fp32"] = r["peak_mb"] / base
    print(table(rows, ["variant", "peak_mb", "peak vs fp32", "s_per_step", "error"]))
    print(f"\nwrote {write('memory', {'settings': vars(args), 'results': rows})}")


if __name__ == "__main__":
    main()
