"""Optimizer and LR schedule from config: any torch optimizer / scheduler, plus warmup.

    "optimizer": {"type": "AdamW", "args": {"lr": 1e-3, "weight_decay": 0.05}},
    "lr_scheduler": {"type": "CosineAnnealingLR", "args": {"T_max": "auto"},
                     "interval": "step", "warmup": {"epochs": 1, "start_factor": 0.01}}

`interval` says whether the scheduler steps per optimizer step or per epoch. An argument
given as "auto" (T_max, total_iters, total_steps) becomes the number of scheduler steps
after warmup. ReduceLROnPlateau is fed the monitored metric after each validation.
"""
import torch
from timm.optim import param_groups_weight_decay

from utils.builder import build, check_block
from utils.errors import ConfigError
from utils.registry import OPTIMIZERS, SCHEDULERS

_OPT_KEYS = ("filter_bias_and_norm",)
_SCHED_KEYS = ("interval", "warmup")


def build_optimizer(cfg, model):
    """No weight decay on biases and norm weights by default (timm's recipe)."""
    cfg = check_block(cfg, "optimizer", _OPT_KEYS)
    params = [p for p in model.parameters() if p.requires_grad]
    wd = cfg["args"].get("weight_decay", 0.0)
    if cfg.get("filter_bias_and_norm", True) and wd:
        params = param_groups_weight_decay(model, weight_decay=wd)
    return build(OPTIMIZERS, cfg, "optimizer", extra_keys=_OPT_KEYS, params=params)


class LRSchedule:
    """Linear warmup (counted in optimizer steps) followed by any torch scheduler."""

    def __init__(self, optimizer, main=None, interval="epoch", warmup_steps=0, start_factor=0.001):
        self.main, self.interval, self.warmup_steps = main, interval, warmup_steps
        self.plateau = isinstance(main, torch.optim.lr_scheduler.ReduceLROnPlateau)
        self.steps = 0
        self.main_started = warmup_steps == 0  # per-epoch schedules count epochs after warmup only
        self.warmup = None
        if warmup_steps > 0:
            for group in optimizer.param_groups:  # start from the base LR, whatever main set
                group["lr"] = group.setdefault("initial_lr", group["lr"])
            self.warmup = torch.optim.lr_scheduler.LinearLR(
                optimizer, start_factor=start_factor, end_factor=1.0, total_iters=warmup_steps)

    @property
    def in_warmup(self):
        return self.steps < self.warmup_steps

    def step_iter(self):
        """After every optimizer step."""
        if self.in_warmup:
            self.steps += 1
            self.warmup.step()
            return
        self.steps += 1
        if self.main is not None and self.interval == "step" and not self.plateau:
            self.main.step()

    def step_epoch(self, metric=None):
        """After every epoch; `metric` is the monitored value (None if not validated)."""
        if self.main is None:
            return
        if not self.main_started:
            self.main_started = not self.in_warmup
            return
        if self.plateau:
            if metric is not None:
                self.main.step(metric)
        elif self.interval == "epoch":
            self.main.step()

    def state_dict(self):
        return {"steps": self.steps, "main_started": self.main_started,
                "main": self.main.state_dict() if self.main is not None else None,
                "warmup": self.warmup.state_dict() if self.warmup is not None else None}

    def load_state_dict(self, state):
        self.steps, self.main_started = state["steps"], state["main_started"]
        if self.main is not None and state["main"] is not None:
            self.main.load_state_dict(state["main"])
        if self.warmup is not None and state["warmup"] is not None:
            self.warmup.load_state_dict(state["warmup"])


def build_scheduler(cfg, optimizer, epochs, steps_per_epoch, monitor_mode="min"):
    """An LRSchedule; `cfg` may be None (constant LR) or hold only `warmup`."""
    if not cfg:
        return LRSchedule(optimizer)
    if not isinstance(cfg, dict):
        raise ConfigError(f"lr_scheduler: expected a mapping, got {cfg!r}")
    interval = cfg.get("interval", "epoch")
    if interval not in ("epoch", "step"):
        raise ConfigError(f"lr_scheduler.interval: expected 'epoch' or 'step', got {interval!r}")
    warmup = cfg.get("warmup") or {}
    unknown = set(warmup) - {"epochs", "steps", "start_factor"}
    if unknown or ("epochs" in warmup and "steps" in warmup):
        raise ConfigError(f"lr_scheduler.warmup: give 'epochs' or 'steps' (and optionally 'start_factor'), "
                          f"got {warmup}")
    warmup_steps = int(warmup.get("steps", round(warmup.get("epochs", 0) * steps_per_epoch)))
    main = None
    if cfg.get("type"):
        block = check_block(cfg, "lr_scheduler", _SCHED_KEYS)
        total = epochs * steps_per_epoch - warmup_steps if interval == "step" else \
            epochs - -(-warmup_steps // steps_per_epoch)
        args = {k: (max(1, total) if v == "auto" else v) for k, v in block["args"].items()}
        if block["type"] == "ReduceLROnPlateau":
            args.setdefault("mode", monitor_mode if monitor_mode in ("min", "max") else "min")
        main = build(SCHEDULERS, {**block, "args": args}, "lr_scheduler", _SCHED_KEYS, optimizer=optimizer)
    return LRSchedule(optimizer, main, interval, warmup_steps, warmup.get("start_factor", 0.001))
