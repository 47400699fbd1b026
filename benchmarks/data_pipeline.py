"""Data pipeline throughput: samples/s of one worker for the project's datasets vs an equivalent
torchvision/PIL pipeline (same files, same augmentation), measured alternately in one run.

    python benchmarks/data_pipeline.py --samples 200
"""
import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2 as T
from common import table, write
from PIL import Image
from torchvision import tv_tensors

from trainer.build import build_dataset
from utils.config import load_config
from utils.registry import import_builtins

REPO = Path(__file__).resolve().parents[1]
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # albumentations' Normalize defaults


def project_wrinkle():
    """The train split of configs/wrinkle_quick.json: OpenCV decode + albumentations."""
    return build_dataset(load_config(REPO / "configs/wrinkle_quick.json"), "train")


class TorchvisionWrinkle:
    """The same crop / flip / brightness-contrast / normalize with PIL decoding and torchvision v2."""

    def __init__(self, items, crop=128):
        self.items = items
        self.transform = T.Compose([
            T.RandomCrop(crop, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: 255}),
            T.RandomHorizontalFlip(), T.ColorJitter(brightness=0.15, contrast=0.15),
            T.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.float32}, scale=True),
            T.Normalize(MEAN, STD)])

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        image_path, mask_path = self.items[index]
        image = tv_tensors.Image(T.functional.pil_to_tensor(Image.open(image_path).convert("RGB")))
        mask = tv_tensors.Mask(torch.from_numpy((np.asarray(Image.open(mask_path)) > 0).astype(np.uint8)))
        image, mask = self.transform(image, mask)
        return {"input": image, "target": mask}


def project_mask():
    """The train split of configs/mask_multihead_effnet.json on the sample photos (384x512)."""
    return build_dataset(load_config(REPO / "configs/mask_multihead_effnet.json"), "train")


class TorchvisionMask:
    """The same centre crop / resize / flip / affine / colour jitter / normalize with PIL and torchvision v2."""

    def __init__(self, paths, labels):
        self.paths, self.labels = paths, labels
        self.transform = T.Compose([
            T.CenterCrop((400, 320)), T.Resize((300, 240), antialias=True), T.RandomHorizontalFlip(),
            T.RandomApply([T.RandomAffine(degrees=10, translate=(0.05, 0.05), scale=(0.9, 1.1))], p=0.5),
            T.RandomApply([T.ColorJitter(0.2, 0.2, 0.2, 0.05)], p=0.5),
            T.ToDtype(torch.float32, scale=True), T.Normalize(MEAN, STD)])

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        image = T.functional.pil_to_tensor(Image.open(self.paths[index]).convert("RGB"))
        return {"input": self.transform(image), "target": {h: torch.tensor(int(v[index]))
                                                            for h, v in self.labels.items()}}


def samples_per_s(get, n):
    start = time.perf_counter()
    for i in range(n):
        get(i)
    return n / (time.perf_counter() - start)


def compare(name, project, baseline, n, repeats):
    ours, theirs = [], []
    for r in range(repeats):  # alternate, so both see the same machine load
        ours.append(samples_per_s(lambda i: project[(i % len(project), r * n + i)], n))
        theirs.append(samples_per_s(lambda i: baseline[i % len(baseline)], n))
    return {"pipeline": name, "project samples/s": statistics.median(ours),
            "torchvision/PIL samples/s": statistics.median(theirs),
            "ratio": statistics.median(ours) / statistics.median(theirs)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=200, help="samples per measurement")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    os.chdir(REPO)  # the shipped configs name their sample data relative to the repository
    import_builtins()
    torch.set_num_threads(1)  # one DataLoader worker's worth of CPU
    import cv2

    cv2.setNumThreads(0)
    rows = []
    wrinkle = project_wrinkle()
    rows.append(compare("wrinkle train (128 crop, flip, brightness/contrast)", wrinkle,
                        TorchvisionWrinkle(wrinkle.items), args.samples, args.repeats))
    mask = project_mask()
    rows.append(compare("mask train (crop 400x320, resize 300x240, flip, affine, colour jitter)", mask,
                        TorchvisionMask(mask.paths, mask.labels_), args.samples, args.repeats))
    columns = ["pipeline", "project samples/s", "torchvision/PIL samples/s", "ratio"]
    print(table(rows, columns))
    print(f"\nwrote {write('data_pipeline', {'settings': vars(args), 'results': rows})}")


if __name__ == "__main__":
    main()
