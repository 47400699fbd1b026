"""What each shipped recipe costs: the parameters that train, training steps/s and peak memory at the
recipe's configured size (its crops, clip length, batch size, loss, optimizer, metrics), for the
framework's Trainer and for a plain PyTorch loop on the same model, batches, loss and optimizer.

Both loops read the same samples from memory (the recipe's first batches, decoded and augmented
once on its sample data), so the table is about training, not decoding. Each measurement runs in a
fresh process (peak memory: torch.cuda.max_memory_allocated on a GPU, on CPU the growth of peak RSS
over the RSS before training); Trainer and plain loop alternate, and the ratio is of medians in this
run only, as the machines these run on are shared and noisy.

    python benchmarks/recipes.py                            # every recipe on this CPU (full-size ones take minutes)
    python benchmarks/recipes.py --only wrinkle_quick.json mask_multihead_quick.json
    python benchmarks/recipes.py --device cuda --amp bf16 --channels-last
"""
import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from common import sync, table, time_trainer, write

from trainer import build as B
from trainer.batch import to_channels_last, to_device, total_loss
from trainer.classes import resolve_classes
from trainer.evaluator import autocast
from trainer.optim import build_optimizer
from utils.config import apply_overrides, load_config
from utils.registry import import_builtins
from utils.seed import seed_everything

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


class Cached(torch.utils.data.Dataset):
    """The first `n` samples of a recipe's training set, decoded and augmented once. Everything else
    (classes, labels for samplers and "auto" loss weights, collate_fn) is the recipe's dataset's."""

    def __init__(self, dataset, n):
        self.dataset = dataset
        self.items = [dataset[(i % len(dataset), i)] for i in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, key):
        return self.items[(key[0] if isinstance(key, tuple) else key) % len(self.items)]

    def __getattr__(self, name):
        return getattr(self.__dict__["dataset"], name)


def recipe(args, save_dir):
    """The recipe as shipped on its own sample data (generated on first use); only the run's length and
    the device change."""
    cfg = load_config(CONFIGS / args.recipe)
    return apply_overrides(cfg, [
        f"device={args.device}", f"trainer.save_dir={save_dir}", f"trainer.epochs={args.epochs}",
        f"trainer.limit_train_batches={args.steps}", "trainer.limit_val_batches=1", "trainer.progress=none",
        "trainer.tensorboard=false", "trainer.report=false", "trainer.wandb=false", "data.loader.num_workers=0",
        *([f"trainer.amp={args.amp}"] if args.amp else []),
        *(["trainer.channels_last=true"] if args.channels_last else [])])


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_mb(before):
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before  # Linux: KiB


def cached_train_set(cfg, device):
    dataset = B.build_dataset(cfg, "train")
    batch = B.split_config(cfg, "train")[2].get("batch_size", 1)
    return Cached(dataset, batch * cfg["trainer"]["limit_train_batches"]), batch


def trainer_loop(args, cfg, device):
    """Seconds of each training epoch of the framework's Trainer on the cached samples (common.time_trainer)."""
    train_set, _ = cached_train_set(cfg, device)
    real_build = B.build_dataset
    B.build_dataset = lambda c, split: train_set if split == "train" else real_build(c, split)
    before = rss_mb()
    timed = time_trainer(cfg)
    return timed["epoch_s"], peak_mb(before), None


def plain_loop(args, cfg, device):
    """The loop a user would write: the recipe's model, loss and optimizer on the same batches; forward,
    loss, backward, step, loss.item() per step, no metrics, schedule or clipping."""
    train_set, batch = cached_train_set(cfg, device)
    cfg = resolve_classes(cfg, train_set.dataset)
    seed_everything(cfg.get("seed", 42))
    model = B.build_model(cfg).to(device).train()
    if args.channels_last:
        to_channels_last(model)
    criterion = B.build_criterion(cfg)
    if hasattr(criterion, "prepare"):
        criterion.prepare(train_set.dataset)
    criterion.to(device)
    optimizer = build_optimizer(cfg["optimizer"], model)
    loader = torch.utils.data.DataLoader(train_set, batch_size=batch, shuffle=True, drop_last=True,
                                         collate_fn=train_set.dataset.collate_fn)
    times = []
    before = rss_mb()
    for _ in range(args.epochs):
        sync()
        start = time.perf_counter()
        for b in loader:
            x = to_device(b["input"], device, args.channels_last)
            y = to_device(b["target"], device)
            with autocast(device, args.amp):
                loss, _ = total_loss(criterion(model(x), y))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            loss.item()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), peak_mb(before), sum(p.numel() for p in model.parameters() if p.requires_grad)


def child(args):
    import_builtins()
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = recipe(args, tmp)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        epoch_s, peak, params = (trainer_loop if args.loop == "trainer" else plain_loop)(args, cfg, device)
    print(json.dumps({"steps_per_s": cfg["trainer"]["limit_train_batches"] / epoch_s, "peak_mb": peak,
                      "train_params": params}))


def measure(args, name, loop):
    steps = args.steps or (10 if name.endswith("_quick.json") else 2)
    cmd = [sys.executable, __file__, "--recipe", name, "--loop", loop, "--device", args.device,
           "--steps", str(steps), "--epochs", str(args.epochs), *(["--amp", args.amp] if args.amp else []),
           *(["--channels-last"] if args.channels_last else [])]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        missing = "DataError" in out.stderr and ("not found" in out.stderr or "does not exist" in out.stderr)
        # the public datasets' recipes read the published files, which only their users have
        return {"error": "needs its published data" if missing else (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", nargs="+", help="recipe files (default: every configs/*.json)")
    p.add_argument("--steps", type=int, help="training batches per epoch (default: 10 for a *_quick recipe, "
                   "whose steps take milliseconds, so that the once-an-epoch work weighs as in a real epoch; else 2)")
    p.add_argument("--epochs", type=int, default=3, help="per measurement; the first is warm-up")
    p.add_argument("--repeats", type=int, default=1, help="alternating Trainer / plain measurements")
    p.add_argument("--amp", choices=["bf16", "fp16"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--recipe", help=argparse.SUPPRESS)
    p.add_argument("--loop", choices=["trainer", "plain"], help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.recipe:
        return child(args)
    rows = []
    for name in args.only or sorted(c.name for c in CONFIGS.glob("*.json")):
        runs = {"trainer": [], "plain": []}
        for _ in range(args.repeats):
            for loop in runs:
                runs[loop].append(measure(args, name, loop))
        errors = [r["error"] for rs in runs.values() for r in rs if "error" in r]
        if errors:
            rows.append({"recipe": name, "error": errors[0]})
        else:
            med = {loop: {k: statistics.median(r[k] for r in rs) for k in ("steps_per_s", "peak_mb")}
                   for loop, rs in runs.items()}
            rows.append({"recipe": name, "params (M)": runs["plain"][0]["train_params"] / 1e6,
                         "steps/s": med["trainer"]["steps_per_s"], "plain steps/s": med["plain"]["steps_per_s"],
                         "ratio": med["trainer"]["steps_per_s"] / med["plain"]["steps_per_s"],
                         "peak MB": med["trainer"]["peak_mb"], "plain peak MB": med["plain"]["peak_mb"]})
        print(table(rows[-1:], list(rows[-1])), flush=True)
    columns = ["recipe", "params (M)", "steps/s", "plain steps/s", "ratio", "peak MB", "plain peak MB", "error"]
    print("\n" + table(rows, columns))
    print(f"\nwrote {write('recipes', {'settings': vars(args), 'results': rows})}")


if __name__ == "__main__":
    main()
