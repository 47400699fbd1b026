"""Distributed helpers. Without torchrun every function acts as the single process (rank 0)."""
import os

import torch
import torch.distributed as dist


def is_dist():
    return dist.is_available() and dist.is_initialized()


def rank():
    return dist.get_rank() if is_dist() else 0


def world_size():
    return dist.get_world_size() if is_dist() else 1


def is_main():
    """Only the main process creates run dirs, logs and checkpoints."""
    return rank() == 0


def init_from_env(device_type):
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_dist():
        return False
    backend = "nccl" if device_type == "cuda" else "gloo"
    dist.init_process_group(backend)
    if device_type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return True


def local_rank():
    return int(os.environ.get("LOCAL_RANK", "0"))


def barrier():
    if is_dist():
        dist.barrier()


def all_reduce_sum(tensor):
    """Sum a tensor over processes in place (metric states are sums, never averages)."""
    if is_dist():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast_object(obj, src=0):
    """The main process's value of `obj`, on every process."""
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj):
    """A list with every process's `obj`, indexed by rank."""
    if not is_dist():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def average_buffers(module, names=("running_mean", "running_var")):
    """Average BatchNorm-style buffers across processes (each saw only its own shard)."""
    if not is_dist():
        return
    for name, buf in module.named_buffers():
        if name.rsplit(".", 1)[-1] in names:
            dist.all_reduce(buf, op=dist.ReduceOp.SUM)
            buf /= world_size()


def cleanup():
    if is_dist():
        dist.destroy_process_group()
