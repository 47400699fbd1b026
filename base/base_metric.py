"""Metrics accumulate sum-reducible state over a whole epoch and compute once.

Never an average of per-batch values: F1 of an epoch is computed from the epoch's counts.
Under DDP the states are summed across processes before `compute`.
"""
import torch

from utils import dist


class Metric:
    """Subclasses call `add_state` in __init__, implement `update`, `compute` and `names`."""

    def __init__(self):
        self._defaults = {}

    def add_state(self, name, default):
        self._defaults[name] = default.clone()
        setattr(self, name, default.clone())

    def reset(self):
        self._synced = False
        for name, default in self._defaults.items():
            setattr(self, name, default.clone().to(getattr(self, name).device))

    def to(self, device):
        for name in self._defaults:
            setattr(self, name, getattr(self, name).to(device))
        return self

    def sync(self):
        """Sum states over processes, once per epoch (compute may be called again after)."""
        if getattr(self, "_synced", False):
            return
        for name in self._defaults:
            dist.all_reduce_sum(getattr(self, name))
        self._synced = True

    def update(self, outputs, targets):
        raise NotImplementedError

    def compute(self):
        """A dict of metric name -> float."""
        raise NotImplementedError

    def names(self):
        """The keys `compute` returns (known before training, to check the monitor)."""
        raise NotImplementedError

    def artifacts(self):
        """Non-scalar results to save after each validation: {name: (matrix, class_names)}."""
        return {}

    def decision(self):
        """How the model should be used, decided on this epoch's data (e.g. {"threshold": 0.35,
        "source": ...}); stored in checkpoints so test.py, the predictor and the export agree."""
        return {}


class MetricCollection:
    """Several metrics updated together; their results merged into one dict."""

    def __init__(self, metrics=()):
        self.metrics = list(metrics)
        seen = {}
        for m in self.metrics:
            for n in m.names():
                if n in seen:
                    raise ValueError(f"metrics {type(seen[n]).__name__} and {type(m).__name__} both report '{n}'")
                seen[n] = m

    def names(self):
        return [n for m in self.metrics for n in m.names()]

    def reset(self):
        for m in self.metrics:
            m.reset()

    def to(self, device):
        for m in self.metrics:
            m.to(device)
        return self

    @torch.no_grad()
    def update(self, outputs, targets):
        for m in self.metrics:
            m.update(outputs, targets)

    def compute(self):
        out = {}
        for m in self.metrics:
            m.sync()
            out.update(m.compute())
        return out

    def artifacts(self):
        out = {}
        for m in self.metrics:
            out.update(m.artifacts())
        return out

    def decision(self):
        """The first metric's decision that has one (one threshold per model)."""
        return next((d for d in (m.decision() for m in self.metrics) if d), {})

    def set_threshold(self, threshold):
        """Score every thresholded metric at `threshold` (states are reset)."""
        for m in self.metrics:
            if hasattr(m, "set_threshold"):
                m.set_threshold(threshold)
