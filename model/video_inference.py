"""Multi-view testing: several clips x crops per video, class probabilities averaged per video.

    "inference": {"type": "MultiView", "args": {"sample_dims": 4}}

A sample of `sample_dims` dimensions ((C, T, H, W) clips or (T, C, H, W) frames) batches to
sample_dims + 1; a batch with one more dimension, (N, V, ...), holds V views of each video
(VideoDataset with num_clips/crops in evaluation). The views run through the model as one
batch (in chunks of `max_views` samples when given), and the video's output is the log of
its views' mean softmax probability: a valid logit vector, so the loss is the NLL of the
averaged probabilities, argmax is the averaged prediction, and softmax gives them back.
Inputs without a view dimension go through the model unchanged.
"""
import math
from typing import Optional

import torch

from utils.registry import INFERERS


@INFERERS.register
class MultiView:
    def __init__(self, sample_dims: int = 4, max_views: Optional[int] = None):
        if sample_dims < 1 or (max_views is not None and max_views < 1):
            raise ValueError(f"sample_dims and max_views must be >= 1, got {sample_dims} and {max_views}")
        self.sample_dims, self.max_views = sample_dims, max_views

    def __call__(self, model, inputs):
        if inputs.dim() != self.sample_dims + 2:
            return model(inputs)
        n, v = inputs.shape[:2]
        flat = inputs.flatten(0, 1)
        chunk = self.max_views or flat.shape[0]
        outputs = [model(flat[i:i + chunk]) for i in range(0, flat.shape[0], chunk)]
        if isinstance(outputs[0], dict):
            return {k: _average(torch.cat([o[k] for o in outputs]), n, v) for k in outputs[0]}
        return _average(torch.cat(outputs), n, v)


def _average(logits, n, v):
    if logits.dim() != 2:
        raise ValueError(f"MultiView averages class scores (N, classes) over views; the model returns "
                         f"{tuple(logits.shape)}: for dense maps use TTA or Direct")
    log_probs = torch.log_softmax(logits.float(), dim=-1).unflatten(0, (n, v))
    return torch.logsumexp(log_probs, dim=1) - math.log(v)
