"""Splitting a batch into micro-batches that fit in memory, without changing the effective batch.

`trainer.micro_batch_size: N` runs each loader batch as chunks of N samples whose gradients
add up to the whole batch's (each chunk's loss is weighted by its share of the batch).
`"auto"` finds N once, on the first batch: forward + backward at the full batch, halving on
out-of-memory errors; the probe restores weights, buffers and RNG, so the run is the same as
with that N given explicitly.
"""
import logging

import torch

from utils import dist

from .batch import total_loss

log = logging.getLogger("facetrain")
OOM = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


def length(obj):
    while isinstance(obj, dict):
        obj = next(iter(obj.values()))
    return obj.shape[0]


def chunk(obj, start, stop):
    if isinstance(obj, dict):
        return {k: chunk(v, start, stop) for k, v in obj.items()}
    return obj[start:stop]


def split(inputs, targets, size):
    """[(inputs, targets, share of the batch)] in chunks of `size` samples (None: no split)."""
    n = length(inputs)
    if not size or size >= n:
        return [(inputs, targets, 1.0)]
    return [(chunk(inputs, i, i + size), chunk(targets, i, i + size), min(size, n - i) / n)
            for i in range(0, n, size)]


def find_micro_batch(model, criterion, inputs, targets, autocast_ctx):
    """The largest power-of-two fraction of the batch whose forward + backward fits in memory."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    size = length(inputs)
    while True:
        fits = True
        try:
            x, y, _ = split(inputs, targets, size)[0]
            with autocast_ctx():
                loss, _ = total_loss(criterion(model(x), y))
            loss.backward()
        except OOM:
            fits = False
        finally:
            model.zero_grad(set_to_none=True)
        if fits:
            break
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if size == 1:
            raise OOM("trainer.micro_batch_size=auto: even one sample does not fit in memory; try "
                      "trainer.amp, trainer.activation_checkpointing or smaller crops")
        size = max(1, size // 2)
    model.load_state_dict(state)
    torch.set_rng_state(rng)
    if cuda_rng is not None:
        torch.cuda.set_rng_state_all(cuda_rng)
    size = min(dist.all_gather_object(size))  # every process must split alike
    log.info(f"micro_batch_size=auto: {size} of {length(inputs)} samples per forward pass")
    return size
