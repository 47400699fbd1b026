"""One pass over a loader without gradients: loss, metrics and optional prediction writers.

Used for validation during training and by test.py, so both report the same numbers, and the
numbers do not depend on the batch size: images of different sizes run one size at a time
(model/inference.py infer_batch), the loss is the mean of each sample's own loss, and metrics
accumulate counts over the whole split.
"""
import contextlib

import torch

from logger.progress import Progress
from model.inference import infer_batch
from utils import dist

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
            mean.update(_per_sample_loss(criterion, outputs, targets, batch_size(batch)), batch_size(batch))
            bar.update(loss=mean.sums["loss"] / mean.count)
        else:
            bar.update()
        if metrics is not None and targets is not None:
            metrics.update(outputs, targets)
        for writer in writers:
            writer.write(batch, outputs)
    bar.close()
    result = mean.compute(prefix)
    if dist.is_dist():  # a process with an empty shard still joins the metrics' sums
        labelled = any(dist.all_gather_object(labelled))
    if metrics is not None and labelled:
        result.update({f"{prefix}/{k}": v for k, v in metrics.compute().items()})
    return result


def _per_sample_loss(criterion, outputs, targets, n):
    """The batch's mean of each sample's own loss (and terms): the epoch's loss is then the mean over
    samples whatever the batch size, also for losses that pool pixels or classes over a batch."""
    losses = [total_loss(criterion(_sample(outputs, i), _sample(targets, i))) for i in range(n)]
    return {"loss": torch.stack([loss.detach() for loss, _ in losses]).mean(),
            **{k: torch.stack([terms[k] for _, terms in losses]).mean() for k in losses[0][1]}}


def _sample(x, i):
    return {k: _sample(v, i) for k, v in x.items()} if isinstance(x, dict) else x[i:i + 1]


def _float(outputs):
    # Metrics and losses run in fp32 even when the forward pass ran in bf16/fp16.
    if isinstance(outputs, dict):
        return {k: v.float() for k, v in outputs.items()}
    return outputs.float()
