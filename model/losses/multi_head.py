"""One loss per head of a multi-head model, in a weighted sum; each head's term logged on its own.

    "loss": {"type": "MultiHeadLoss", "args": {"heads": {
        "mask":   {"type": "FocalLoss", "args": {"gamma": 2.0}, "weight": 1.0},
        "gender": {"type": "CrossEntropy", "weight": 0.5},
        "age":    [{"type": "FocalLoss", "args": {"alpha": "auto"}, "weight": 1.0},
                   {"type": "SoftMacroF1Loss", "weight": 0.5, "name": "f1"}]}}}

Terms are `loss_<head>` (or `loss_<head>_<name>` when a head has a list), already weighted;
the trainer sums them. A term's `prepare` (e.g. alpha "auto") gets the head's own labels.
"""
import inspect

import torch.nn as nn

from utils.builder import build_child
from utils.errors import ConfigError
from utils.registry import LOSSES


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
            for i, block in enumerate(blocks):
                path = f"heads.{head}" + (f".{i}" if isinstance(spec, list) else "")
                extra = ("weight", "name") if isinstance(spec, list) else ("weight",)
                if isinstance(spec, list):
                    label = (block.get("name") if isinstance(block, dict) else None) or \
                        (block["type"] if isinstance(block, dict) else str(block))
                    name = f"{head}_{label}".lower()
                else:
                    name = head
                if name in self.terms:
                    raise ValueError(f"{path}: two terms are named 'loss_{name}'; give each a 'name'")
                self.terms[name] = build_child(LOSSES, block, path, extra_keys=extra)
                weight = block.get("weight", 1.0) if isinstance(block, dict) else 1.0
                if not isinstance(weight, (int, float)) or isinstance(weight, bool):
                    raise ValueError(f"{path}.weight: expected a number, got {weight!r}")
                self.weights[name], self.head_of[name] = float(weight), head

    def names(self):
        return [f"loss_{name}" for name in self.terms]

    def prepare(self, dataset):
        for name, term in self.terms.items():
            if hasattr(term, "prepare"):
                takes_key = "key" in inspect.signature(term.prepare).parameters
                term.prepare(dataset, key=self.head_of[name]) if takes_key else term.prepare(dataset)

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
