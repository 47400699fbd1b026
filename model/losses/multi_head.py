"""One loss per head of a multi-head model, in a weighted sum; each head's term logged on its own.

    "loss": {"type": "MultiHeadLoss", "args": {"heads": {
        "mask":   {"type": "FocalLoss", "args": {"gamma": 2.0}, "weight": 1.0},
        "gender": {"type": "CrossEntropy", "weight": 0.5},
        "age":    [{"type": "FocalLoss", "args": {"alpha": "auto"}, "weight": 1.0},
                   {"type": "SoftMacroF1Loss", "weight": 0.5, "name": "f1"}]}}}

Terms are `loss_<head>` (or `loss_<head>_<name>` when a head has a list), already weighted;
the trainer sums them. A term's `prepare` (e.g. alpha "auto") gets the head's own labels.
"""
import torch.nn as nn

from utils.errors import ConfigError
from utils.registry import LOSSES

from .combine import build_terms


class HeadLabels:
    """The training set as one head's loss sees it: labels and class counts of that head (for
    "auto" class weights)."""

    def __init__(self, dataset, head):
        self.dataset, self.head = dataset, head

    def labels(self, key=None):
        return self.dataset.labels(self.head)

    def class_counts(self, key=None):
        return self.dataset.class_counts(self.head)


@LOSSES.register
class MultiHeadLoss(nn.Module):
    def __init__(self, heads: dict):
        super().__init__()
        if not heads:
            raise ValueError("heads: give at least one head, e.g. {\"mask\": {\"type\": \"CrossEntropy\"}}")
        self.terms = nn.ModuleDict()
        self.head_of, self.weights = {}, {}
        for head, spec in heads.items():
            blocks = spec if isinstance(spec, list) else [spec]
            if not blocks:
                raise ValueError(f"heads.{head}: give a loss block or a list of them")
            terms, weights = build_terms(blocks, f"heads.{head}", indexed=isinstance(spec, list))
            for name, term in terms.items():
                key = f"{head}_{name}" if isinstance(spec, list) else head  # loss_<head>[_<name>]
                if key in self.terms:
                    raise ValueError(f"heads.{head}: two terms are named 'loss_{key}'; give each a 'name'")
                self.terms[key], self.weights[key], self.head_of[key] = term, weights[name], head

    def names(self):
        return [f"loss_{name}" for name in self.terms]

    def prepare(self, dataset):
        for name, term in self.terms.items():
            if hasattr(term, "prepare"):
                term.prepare(HeadLabels(dataset, self.head_of[name]) if hasattr(dataset, "class_counts") else dataset)

    def forward(self, outputs, targets):
        if not isinstance(outputs, dict) or not isinstance(targets, dict):
            raise ConfigError("loss: MultiHeadLoss needs a model that returns a dict of heads and a dataset whose "
                              f"target is a dict (got {type(outputs).__name__} outputs, {type(targets).__name__} "
                              "targets)")
        out = {}
        for name, term in self.terms.items():
            head = self.head_of[name]
            if head not in outputs or head not in targets:
                raise ConfigError(f"loss.args.heads.{head}: not a head of the model's outputs {sorted(outputs)} "
                                  f"and the targets {sorted(targets)}")
            out[f"loss_{name}"] = self.weights[name] * term(outputs[head], targets[head])
        return out
