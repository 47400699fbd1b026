"""A weighted sum of loss terms, each logged on its own.

    "loss": {"type": "WeightedSum", "args": {"terms": [
        {"type": "WeightedBCE", "args": {"pos_weight": "auto"}, "weight": 1.0},
        {"type": "SoftF1Loss", "weight": 0.5, "name": "f1"}]}}
"""
import torch.nn as nn

from utils.builder import build_child
from utils.registry import LOSSES


def build_terms(blocks, path, indexed=True):
    """({name: loss}, {name: weight}) from loss blocks with an optional `weight` and `name` (default:
    the type, lower case); the one place that turns weighted loss blocks into modules. Error paths
    are `path.<i>`, or `path` itself for a lone block (indexed=False)."""
    terms, weights = nn.ModuleDict(), {}
    for i, block in enumerate(blocks):
        at = f"{path}.{i}" if indexed else path
        name = ((block.get("name") if isinstance(block, dict) else None)
                or (block["type"] if isinstance(block, dict) else str(block))).lower()
        if name in terms:
            raise ValueError(f"{at}: two terms are named '{name}'; give each a 'name'")
        terms[name] = build_child(LOSSES, block, at, extra_keys=("weight", "name"))
        weight = block.get("weight", 1.0) if isinstance(block, dict) else 1.0
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            raise ValueError(f"{at}.weight: expected a number, got {weight!r}")
        weights[name] = float(weight)
    return terms, weights


@LOSSES.register
class WeightedSum(nn.Module):
    def __init__(self, terms: list):
        super().__init__()
        if not terms:
            raise ValueError("terms: give at least one loss term")
        self.terms, self.weights = build_terms(terms, "terms")

    def names(self):
        return [f"loss_{name}" for name in self.terms]

    def prepare(self, dataset):
        for term in self.terms.values():
            if hasattr(term, "prepare"):
                term.prepare(dataset)

    def forward(self, outputs, targets):
        return {f"loss_{name}": self.weights[name] * term(outputs, targets) for name, term in self.terms.items()}
