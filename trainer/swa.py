"""Stochastic weight averaging with torch.optim.swa_utils.

    "trainer": {"swa": {"start_epoch": 16, "lr": 0.0005, "anneal_epochs": 2}}

From `start_epoch` on, the weights at the end of each epoch enter an equal average. With
`lr`, SWALR anneals the learning rate to it and replaces the configured schedule. After the
last epoch, BatchNorm statistics are recomputed for the averaged weights on the training
data (they cannot be averaged), the result is validated as val_swa/* and saved as
model_swa.pth, a normal checkpoint that test.py takes.
"""
import itertools

import torch
from torch.optim.swa_utils import SWALR, AveragedModel, update_bn

from utils import dist

from .batch import to_device


class SWA:
    def __init__(self, model, optimizer, epochs, start_epoch=None, lr=None, anneal_epochs=1,
                 anneal_strategy="cos"):
        self.start_epoch = start_epoch or max(1, int(0.75 * epochs) + 1)  # default: the last quarter
        if not 1 <= self.start_epoch <= epochs:
            raise ValueError(f"swa.start_epoch must be between 1 and epochs ({epochs}), got {self.start_epoch}")
        self.model = AveragedModel(model)  # BN buffers are recomputed, not averaged
        self.optimizer, self.lr = optimizer, lr
        self.anneal_epochs, self.anneal_strategy = anneal_epochs, anneal_strategy
        self.scheduler = None  # made at the first SWA epoch, so it never touches the LR before

    def controls_lr(self, epoch):
        """True from the epoch on which SWALR replaces the configured schedule."""
        return self.lr is not None and epoch > self.start_epoch

    def end_epoch(self, model, epoch):
        if epoch < self.start_epoch:
            return
        self.model.update_parameters(model)
        if self.lr is not None:
            if self.scheduler is None:
                self.scheduler = SWALR(self.optimizer, swa_lr=self.lr, anneal_epochs=self.anneal_epochs,
                                       anneal_strategy=self.anneal_strategy)
            self.scheduler.step()

    @property
    def started(self):
        return int(self.model.n_averaged) > 0

    @torch.no_grad()
    def finalize(self, loader, device, channels_last=False, limit=None):
        """Recompute BatchNorm statistics of the averaged weights over the training data (its first
        `limit` batches, as each epoch of a run with limit_train_batches); returns the averaged model."""
        inputs = (to_device(batch["input"], device, channels_last) for batch in itertools.islice(loader, limit))
        update_bn(inputs, self.model.module)
        dist.average_buffers(self.model.module)  # under DDP each process saw its own shard
        return self.model.module

    def state_dict(self):
        return {"model": self.model.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None}

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        if state["scheduler"] is not None:
            self.scheduler = SWALR(self.optimizer, swa_lr=self.lr, anneal_epochs=self.anneal_epochs,
                                   anneal_strategy=self.anneal_strategy)
            self.scheduler.load_state_dict(state["scheduler"])
