"""Shared pieces of the benchmarks: in-memory data, the framework's Trainer timed per epoch, a
plain hand-written loop on the same model and data, and result tables.

Timings are ratios against a baseline measured in the same run, alternating the two, because
the machines these run on are shared and noisy.
"""
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from base import BaseDataset
from data_loader.mask_labels import HEADS
from trainer import Trainer, run_training
from utils.registry import DATASETS

RESULTS = Path(__file__).resolve().parents[1] / "saved" / "benchmarks"


@DATASETS.register
class InMemory(BaseDataset):
    """Random tensors held in memory, so the benchmark measures the training loop, not decoding."""

    def __init__(self, size: int = 64, shape: list = (3, 128, 128), kind: str = "segmentation", classes: int = 2,
                 seed: int = 0, transform=None):
        super().__init__(transform)
        g = torch.Generator().manual_seed(seed)
        self.inputs = torch.randn(size, *shape, generator=g)
        if kind == "segmentation":
            self.targets = (torch.rand(size, *shape[1:], generator=g) < 0.05).float()
        elif kind == "heads":  # the face-attribute heads: mask 3, gender 2, age 3
            self.targets = {h: torch.randint(0, n, (size,), generator=g) for h, n in HEADS.items()}
        else:
            self.targets = torch.randint(0, classes, (size,), generator=g)

    def __len__(self):
        return len(self.inputs)

    def get(self, index):
        return {"input": self.inputs[index], "target": target_at(self.targets, index), "meta": {"index": index}}




def target_at(targets, index):
    return {k: v[index] for k, v in targets.items()} if isinstance(targets, dict) else targets[index]


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data.inputs)

    def __getitem__(self, i):
        return self.data.inputs[i], target_at(self.data.targets, i)


def machine():
    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor() or
            platform.machine(), "threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def time_trainer(cfg):
    """Seconds per training epoch (epochs after the first), optimizer steps per epoch, peak CUDA memory."""
    times = []
    real = Trainer.train_epoch

    def timed(self, epoch):
        sync()
        start = time.perf_counter()
        out = real(self, epoch)
        sync()
        times.append(time.perf_counter() - start)
        return out

    Trainer.train_epoch = timed
    try:
        reset_peak()
        trainer, _ = run_training(cfg)
    finally:
        Trainer.train_epoch = real
    steps = trainer.global_step / cfg["trainer"]["epochs"]
    return {"epoch_s": statistics.median(times[1:]), "steps_per_epoch": steps, "peak_mb": peak_mb()}


def time_plain_loop(model, loss_fn, dataset, batch_size, epochs, device, lr, amp=None, channels_last=False,
                    checkpointing=False):
    """The minimal loop a user would write: same model, data, optimizer and loss; loss.item() per step."""
    from torch.utils.data import DataLoader

    from model.checkpointing import enable_activation_checkpointing

    loader = DataLoader(_Pairs(dataset), batch_size=batch_size, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    model.to(device).train()
    if checkpointing:
        enable_activation_checkpointing(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    times = []
    reset_peak()
    for _ in range(epochs):
        sync()
        start = time.perf_counter()
        for x, y in loader:
            x = x.to(device, non_blocking=True)
            y = {k: v.to(device) for k, v in y.items()} if isinstance(y, dict) else y.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = loss_fn(model(x), y)
                loss = sum(loss.values()) if isinstance(loss, dict) else loss  # weighted terms
            (scaler.scale(loss) if scaler else loss).backward()
            if scaler:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            loss.item()
        sync()
        times.append(time.perf_counter() - start)
    return {"epoch_s": statistics.median(times[1:]), "steps_per_epoch": len(loader), "peak_mb": peak_mb()}


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_peak():
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_mb():
    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


def table(rows, columns):
    """A markdown table of dict rows."""
    def cell(v):
        return f"{v:.3g}" if isinstance(v, float) else ("" if v is None else str(v))

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write(name, payload):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2))
    return path
