"""One pass over a loader without gradients: loss, metrics and optional prediction writers.

Used for validation during training and by test.py, so both report the same numbers.
"""
import contextlib

import torch

from logger.progress import Progress
from model.inference import infer_batch

from .batch import Mean, batch_size, to_device, total_loss


def autocast(device, amp):
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


@torch.no_grad()
def evaluate(model, loader, device, *, inferer, criterion=None, metrics=None, writers=(), amp=None,
             channels_last=False, limit=None, prefix="val", progress="auto", desc=None):
    """Returns {f"{prefix}/loss": ..., f"{prefix}/<metric>": ...}."""
    model.eval()
    if metrics is not None:
        metrics.reset()
    mean = Mean()
    total = len(loader) if limit is None else min(limit, len(loader))
    bar = Progress(total, desc or prefix, mode=progress)
    labelled = False
    for i, batch in enumerate(loader):
        if limit is not None and i >= limit:
            break
        inputs = to_device(batch["input"], device, channels_last)
        targets = to_device(batch.get("target"), device)
        labelled = targets is not None
        sizes = (batch.get("meta") or {}).get("size")  # true sizes of images padded together (pad_collate)
        with autocast(device, amp):
            outputs = infer_batch(inferer, model, inputs, sizes)
        outputs = _float(outputs)
        if criterion is not None and targets is not None:
            loss, terms = total_loss(criterion(outputs, targets))
            mean.update({"loss": loss.detach(), **terms}, batch_size(batch))
            bar.update(loss=mean.sums["loss"] / mean.count)
        else:
            bar.update()
        if metrics is not None and targets is not None:
            metrics.update(outputs, targets)
        for writer in writers:
            writer.write(batch, outputs)
    bar.close()
    result = mean.compute(prefix) if mean.count else {}
    if metrics is not None and labelled:
        result.update({f"{prefix}/{k}": v for k, v in metrics.compute().items()})
    return result


def _float(outputs):
    # Metrics and losses run in fp32 even when the forward pass ran in bf16/fp16.
    if isinstance(outputs, dict):
        return {k: v.float() for k, v in outputs.items()}
    return outputs.float()
