"""A weighted sum of loss terms, each logged on its own.

    "loss": {"type": "WeightedSum", "args": {"terms": [
        {"type": "WeightedBCE", "args": {"pos_weight": "auto"}, "weight": 1.0},
        {"type": "SoftF1Loss", "weight": 0.5, "name": "f1"}]}}
"""
import torch.nn as nn

from utils.builder import build_child
from utils.registry import LOSSES


@LOSSES.register
class WeightedSum(nn.Module):
    def __init__(self, terms: list):
        super().__init__()
        if not terms:
            raise ValueError("terms: give at least one loss term")
        self.terms = nn.ModuleDict()
        self.weights = {}
        for i, term in enumerate(terms):
            name = term.get("name") if isinstance(term, dict) else None
            name = name or (term["type"] if isinstance(term, dict) else str(term))
            name = name.lower()
            if name in self.terms:
                raise ValueError(f"terms.{i}: two terms are named '{name}'; give each a 'name'")
            self.terms[name] = build_child(LOSSES, term, f"terms.{i}", extra_keys=("weight", "name"))
            self.weights[name] = float(term.get("weight", 1.0)) if isinstance(term, dict) else 1.0

    def names(self):
        return [f"loss_{name}" for name in self.terms]

    def prepare(self, dataset):
        for term in self.terms.values():
            if hasattr(term, "prepare"):
                term.prepare(dataset)

    def forward(self, outputs, targets):
        return {f"loss_{name}": self.weights[name] * term(outputs, targets) for name, term in self.terms.items()}
