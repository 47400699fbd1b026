"""The `trainer` block of a config: every training option, its type and its default."""
import dataclasses
import difflib
import typing
from typing import Literal, Optional, Union

from utils.builder import type_problem
from utils.errors import ConfigError


@dataclasses.dataclass
class TrainerOptions:
    type: str = "Trainer"  # a registered trainer class
    epochs: int = 10
    monitor: str = "min val/loss"  # 'max val/f1', 'min val/loss' or 'off'
    early_stop: Optional[int] = None  # validations without improvement before stopping
    save_top_k: int = 0  # keep the k best epoch checkpoints besides model_best/model_last
    save_period: Optional[int] = None  # also keep every N-th epoch's checkpoint
    val_every: int = 1
    amp: Optional[Literal["bf16", "fp16"]] = None  # fp16 uses a GradScaler
    channels_last: bool = False
    compile: Union[bool, dict] = False  # true, or torch.compile kwargs
    grad_accum_steps: int = 1
    micro_batch_size: Union[int, Literal["auto"], None] = None  # split batches to fit memory (trainer/micro_batch.py)
    activation_checkpointing: bool = False  # recompute blocks in backward (model/checkpointing.py)
    clip_grad_norm: Optional[float] = None
    ema: Optional[dict] = None  # {"decay": 0.999}: EMA of weights, validated as val_ema/*
    swa: Optional[dict] = None  # {"start_epoch": N, "lr": 5e-4, "anneal_epochs": 1}: see trainer/swa.py
    sync_batchnorm: bool = False  # DDP only
    train_metrics: bool = True  # also compute metrics on training batches
    limit_train_batches: Optional[int] = None  # debug: stop each epoch after N batches
    limit_val_batches: Optional[int] = None
    log_every: int = 50  # steps between log lines / TensorBoard step scalars
    progress: Literal["auto", "bar", "log", "none"] = "auto"  # auto: a bar on a terminal, else log lines
    tensorboard: bool = True
    wandb: Union[bool, dict] = False  # true or wandb.init kwargs (project, entity, mode, tags)
    save_dir: str = "saved"
    report: bool = True  # figures at the end of training and in test.py (logger/report.py)
    report_samples: int = 8  # samples in the report's grid: the split's first N

    @classmethod
    def from_config(cls, cfg, path="trainer"):
        cfg = dict(cfg or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        for key, value in cfg.items():
            if key not in fields:
                close = difflib.get_close_matches(key, fields, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise ConfigError(f"{path}.{key}: unknown trainer option.{hint} Options: {sorted(fields)}")
            problem = type_problem(value, hints[key])
            if problem:
                raise ConfigError(f"{path}.{key}: {problem}, got {value!r}")
        opts = cls(**cfg)
        for key in ("epochs", "val_every", "grad_accum_steps", "log_every", "report_samples"):
            if getattr(opts, key) < 1:
                raise ConfigError(f"{path}.{key}: must be >= 1, got {getattr(opts, key)}")
        if opts.ema is not None:
            unknown = set(opts.ema) - {"decay"}
            decay = opts.ema.get("decay", 0.999)
            if unknown or not isinstance(decay, float) or not 0 < decay < 1:
                raise ConfigError(f"{path}.ema: expected {{\"decay\": 0 < float < 1}}, got {opts.ema!r}")
        if opts.swa is not None:
            allowed = {"start_epoch", "lr", "anneal_epochs", "anneal_strategy"}
            if set(opts.swa) - allowed:
                raise ConfigError(f"{path}.swa: unknown key(s) {sorted(set(opts.swa) - allowed)}; "
                                  f"accepted: {sorted(allowed)}")
        return opts
