"""Training throughput and peak memory of the two heavy recipes, fp32 vs AMP + channels_last
(+ activation checkpointing), for the project's Trainer and for a plain timm-style loop on the
same model, in-memory data, optimizer and loss:

  - face attributes: multi-head EfficientNet-B3 (mask 3, gender 2, age 3) at 224x224
  - wrinkles: U-Net ResNet-34 at 1248x1344 crops

    python benchmarks/gpu.py --device cuda            # the real sizes (needs a GPU)
    python benchmarks/gpu.py --small                  # tiny sizes: checks the script on CPU

Peak memory is torch.cuda.max_memory_allocated (empty on CPU). Images/s are medians over the
epochs after the first; compare them only within one run of this script.
"""
import argparse
import tempfile

import torch
from common import HEADS, InMemory, table, time_plain_loop, time_trainer, write

from trainer.build import build_criterion, build_model
from utils.seed import seed_everything

CASES = {
    "mask EfficientNet-B3 multi-head": {
        "model": {"type": "ClassificationModel", "args": {"backbone": "efficientnet_b3", "heads": HEADS,
                                                          "pretrained": False}},
        "loss": {"type": "MultiHeadLoss", "args": {"heads": {h: {"type": "CrossEntropy"} for h in HEADS}}},
        "kind": "heads", "size": (224, 224), "small": (64, 64), "batch": 32,
    },
    "wrinkle U-Net ResNet-34": {
        "model": {"type": "SegmentationModel", "args": {"arch": "Unet", "encoder_name": "resnet34",
                                                        "encoder_weights": None, "classes": 1}},
        "loss": {"type": "WeightedBCE", "args": {"pos_weight": 20.0}},
        "kind": "segmentation", "size": (1344, 1248), "small": (96, 96), "batch": 2,
    },
}


def variants(device):
    amp = "bf16" if device.type != "cuda" or torch.cuda.is_bf16_supported() else "fp16"
    return {"fp32": {}, f"{amp} + channels_last": {"amp": amp, "channels_last": True},
            f"{amp} + channels_last + checkpointing": {"amp": amp, "channels_last": True,
                                                        "activation_checkpointing": True}}


def config(case, shape, options, args, save_dir):
    return {
        "name": "bench_gpu", "seed": 0, "device": args.device,
        "data": {"dataset": {"type": "InMemory", "args": {"size": args.batch_size(case) * args.steps,
                                                          "shape": shape, "kind": case["kind"]}},
                 "loader": {"batch_size": args.batch_size(case), "num_workers": 0, "pin_memory": False},
                 "train": {"loader": {"shuffle": True, "drop_last": True}},
                 "val": {"dataset": {"args": {"size": 1}}}},  # validation is not timed
        "model": case["model"], "loss": case["loss"],
        "optimizer": {"type": "AdamW", "args": {"lr": 1e-4}},
        "trainer": {"epochs": args.epochs, "train_metrics": False, "tensorboard": False, "progress": "none",
                    "save_dir": save_dir, **options},
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--small", action="store_true", help="tiny images and batches (a CPU check of the script)")
    p.add_argument("--steps", type=int, default=10, help="optimizer steps per epoch")
    p.add_argument("--epochs", type=int, default=3, help="per measurement; the first is warm-up")
    p.add_argument("--case", choices=list(CASES), action="append", help="default: all")
    args = p.parse_args(argv)
    args.batch_size = lambda case: 2 if args.small else case["batch"]
    device = torch.device(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.case or CASES:
            case = CASES[name]
            shape = [3, *(case["small"] if args.small else case["size"])]
            images = args.batch_size(case) * args.steps
            for variant, options in variants(device).items():
                row = {"model": name, "input": "x".join(map(str, shape[1:])), "variant": variant}
                try:
                    t = time_trainer(config(case, shape, options, args, tmp))
                    seed_everything(0)
                    criterion = build_criterion({"loss": case["loss"]}).to(device)
                    q = time_plain_loop(build_model({"model": case["model"]}), criterion,
                                        InMemory(images, shape, case["kind"]), args.batch_size(case), args.epochs,
                                        device, 1e-4, options.get("amp"), options.get("channels_last", False),
                                        options.get("activation_checkpointing", False))
                except torch.OutOfMemoryError:
                    row["error"] = "out of memory"
                else:
                    row.update({"trainer img/s": images / t["epoch_s"], "plain img/s": images / q["epoch_s"],
                                "trainer / plain": q["epoch_s"] / t["epoch_s"], "trainer peak MB": t["peak_mb"],
                                "plain peak MB": q["peak_mb"]})
                rows.append(row)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    for name in args.case or CASES:  # memory and speed of each variant relative to fp32 of the same model
        base = next(r for r in rows if r["model"] == name)
        for r in rows:
            if r["model"] == name and "error" not in r and "error" not in base:
                r["speed vs fp32"] = r["trainer img/s"] / base["trainer img/s"]
                if base["trainer peak MB"]:
                    r["memory vs fp32"] = r["trainer peak MB"] / base["trainer peak MB"]
    columns = ["model", "input", "variant", "trainer img/s", "plain img/s", "trainer / plain", "trainer peak MB",
               "plain peak MB", "speed vs fp32", "memory vs fp32", "error"]
    print(table(rows, columns))
    settings = {k: v for k, v in vars(args).items() if k != "batch_size"}
    print(f"\nwrote {write('gpu', {'settings': settings, 'results': rows})}")


if __name__ == "__main__":
    main()
