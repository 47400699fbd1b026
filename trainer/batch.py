"""Moving batches to the device, and reading the loss a criterion returns."""
import torch

# channels_last by rank: images (N, C, H, W) and clips or 3D-conv weights (N, C, T, H, W).
MEMORY_FORMATS = {4: torch.channels_last, 5: torch.channels_last_3d}


def to_device(obj, device, channels_last=False):
    """Tensors (in dicts/lists) to `device`; 4-D and 5-D inputs optionally channels-last."""
    if isinstance(obj, torch.Tensor):
        obj = obj.to(device, non_blocking=True)
        if channels_last and obj.dim() in MEMORY_FORMATS:
            obj = obj.contiguous(memory_format=MEMORY_FORMATS[obj.dim()])
        return obj
    if isinstance(obj, dict):
        return {k: to_device(v, device, channels_last) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device, channels_last) for v in obj)
    return obj


def to_channels_last(model):
    """Conv weights channels-last in place: Module.to(memory_format=channels_last) also converts
    5-D weights and fails on them, so 3D convolutions take channels_last_3d."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.dim() in MEMORY_FORMATS:
            t.data = t.data.contiguous(memory_format=MEMORY_FORMATS[t.dim()])
    return model


def total_loss(losses):
    """A criterion returns a tensor or a dict of (already weighted) terms, which are summed."""
    if isinstance(losses, dict):
        return sum(losses.values()), {k: v.detach() for k, v in losses.items()}
    return losses, {}


def batch_size(batch):
    x = batch["input"]
    while isinstance(x, dict):
        x = next(iter(x.values()))
    return x.shape[0]


class Mean:
    """Sample-weighted running means of scalars, summed across processes at the end."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def update(self, values, n):
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * n
        self.count += n

    def compute(self, prefix):
        """The means, {} when nothing was counted. Under DDP every process calls it, also one whose shard was
        empty (a validation split smaller than the number of processes): it takes part with zeros."""
        from utils import dist

        keys = sorted(self.sums)
        if dist.is_dist():
            keys = sorted(set().union(*dist.all_gather_object(keys)))
        if not keys:
            return {}
        t = torch.tensor([self.sums.get(k, 0.0) for k in keys] + [self.count], dtype=torch.float64)
        if dist.is_dist():
            t = dist.all_reduce_sum(t.to(_comm_device())).cpu()
        n = max(t[-1].item(), 1)
        return {f"{prefix}/{k}": t[i].item() / n for i, k in enumerate(keys)}


def _comm_device():
    import torch.distributed as tdist

    return "cuda" if tdist.get_backend() == "nccl" else "cpu"
