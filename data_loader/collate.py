"""Batching images of different sizes: pad to the largest, mark the padding as ignored (dense
targets), or refuse them by name (classification: padding would change what the model sees)."""
import torch
import torch.nn.functional as F
from torch.utils.data.dataloader import default_collate

from utils.errors import DataError


def same_size_collate(batch, name, what):
    """default_collate, or a DataError naming the samples (meta[`name`]) when their inputs differ in size."""
    shapes = {tuple(s["input"].shape) for s in batch}
    if len(shapes) > 1:
        shown = ", ".join(f"{s['meta'][name]} {tuple(s['input'].shape)}" for s in batch[:4])
        raise DataError(f"{what} of different sizes in one batch ({shown}); give the transform a fixed output size "
                        "(e.g. Resize or CenterCrop)")
    return default_collate(batch)


def pad_collate(batch, ignore_index=255):
    """Pads `input` with 0 and `target` with `ignore_index` at the bottom/right when sizes differ.
    `meta["size"]` keeps each sample's own (height, width), so outputs can be cropped back."""
    shapes = {tuple(s["input"].shape[-2:]) for s in batch}
    if len(shapes) == 1:
        return default_collate(batch)
    height = max(h for h, _ in shapes)
    width = max(w for _, w in shapes)
    padded = []
    for s in batch:
        h, w = s["input"].shape[-2:]
        pad = (0, width - w, 0, height - h)
        item = dict(s, input=F.pad(s["input"], pad, value=0.0))
        if isinstance(s.get("target"), torch.Tensor):
            item["target"] = F.pad(s["target"], pad, value=float(ignore_index))
        padded.append(item)
    return default_collate(padded)
