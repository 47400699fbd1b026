"""The generic Trainer, and the runs that build it from a config (training and testing)."""
from .testing import run_test
from .trainer import Trainer
from .training import run_training

__all__ = ["Trainer", "run_training", "run_test"]
