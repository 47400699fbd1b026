"""The generic Trainer, and the runs that build it from a config (training and testing)."""
from .trainer import Trainer
from .training import run_training
from .testing import run_test

__all__ = ["Trainer", "run_training", "run_test"]
