"""Framework overhead: training steps/s of the Trainer vs a minimal hand-written loop.

Same model, same in-memory data, same optimizer, loss, batch size and precision; the two are
run alternately and the ratio of medians is reported (target >= 0.97).

    python benchmarks/overhead.py                      # CPU-sized defaults
    python benchmarks/overhead.py --device cuda --size 256 --batch-size 32 --amp bf16
"""
import argparse
import statistics
import tempfile

import torch
from common import InMemory, table, time_plain_loop, time_trainer, write

from model.losses.segmentation import WeightedBCE
from trainer.build import build_model
from utils.seed import seed_everything

MODEL = {"type": "SegmentationModel", "args": {"arch": "Unet", "encoder_name": "resnet18", "encoder_weights": None,
                                               "classes": 1, "encoder_depth": 3, "decoder_channels": [32, 16, 8]}}


def config(args, save_dir):
    return {
        "name": "bench_overhead", "seed": 0, "device": args.device,
        "data": {"dataset": {"type": "InMemory", "args": {"size": args.samples, "shape": [3, args.size, args.size]}},
                 "loader": {"batch_size": args.batch_size, "num_workers": 0},
                 "train": {"loader": {"shuffle": True, "drop_last": True}},
                 "val": {"dataset": {"args": {"size": 1}}}},  # validation is not timed
        "model": MODEL,
        "loss": {"type": "WeightedBCE", "args": {"pos_weight": 1.0}},
        "optimizer": {"type": "AdamW", "args": {"lr": 1e-3, "weight_decay": 0.0}},
        "trainer": {"epochs": args.epochs, "amp": args.amp, "channels_last": args.channels_last,
                    "train_metrics": False, "tensorboard": False, "progress": "none", "save_dir": save_dir},
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3, help="per run; the first is warm-up")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--amp", choices=["bf16", "fp16"])
    p.add_argument("--channels-last", action="store_true")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    framework, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            t = time_trainer(config(args, tmp))
            framework.append(t["steps_per_epoch"] / t["epoch_s"])
            seed_everything(0)
            model = build_model({"model": MODEL})
            data = InMemory(args.samples, [3, args.size, args.size])
            p_ = time_plain_loop(model, WeightedBCE(1.0).to(device), data, args.batch_size, args.epochs, device,
                                 1e-3, args.amp, args.channels_last)
            plain.append(p_["steps_per_epoch"] / p_["epoch_s"])
    rows = [{"loop": "plain PyTorch", "steps/s": statistics.median(plain), "runs": plain},
            {"loop": "facetrain Trainer", "steps/s": statistics.median(framework), "runs": framework}]
    ratio = statistics.median(framework) / statistics.median(plain)
    print(table([{k: v for k, v in r.items() if k != "runs"} for r in rows], ["loop", "steps/s"]))
    print(f"\nratio Trainer / plain loop: {ratio:.3f} (target >= 0.97)")
    path = write("overhead", {"settings": vars(args), "results": rows, "ratio": ratio})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
