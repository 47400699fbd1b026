"""A training run from a config: build, check, create the run dir, train (or resume)."""
import logging
import math

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from logger import Tracker, setup_logging
from utils import dist
from utils.checkpoint import load_checkpoint
from utils.config import save_config
from utils.errors import CheckpointError, ConfigError
from utils.paths import RunPaths
from utils.registry import TRAINERS, import_builtins
from utils.seed import seed_everything

from . import build as B
from .batch import to_channels_last
from .classes import resolve_classes
from .optim import build_optimizer, build_scheduler
from .options import TrainerOptions
from .swa import SWA

log = logging.getLogger("facetrain")


def run_training(cfg, resume=None, run_id=None, callbacks=()):
    """Train as `cfg` says; `resume` is a checkpoint to continue exactly. Returns (trainer, summary).
    `run_id` names a new run's directory instead of a timestamp (e.g. "<experiment>/<part>").
    `callbacks` see each validation and may stop the run (base/base_trainer.py)."""
    import_builtins()
    B.validate(cfg, training=True)
    options = TrainerOptions.from_config(cfg.get("trainer"))
    device = B.resolve_device(cfg.get("device", "auto"))
    dist.init_from_env(device.type)
    seed_everything(cfg.get("seed", 42), cfg.get("deterministic", False))
    if logging.getLogger("facetrain").handlers == []:
        setup_logging()

    # Build and check everything before any directory is created: a bad config leaves nothing behind.
    train_set, train_loader = B.build_data(cfg, "train", device, train=True)
    cfg = resolve_classes(cfg, train_set)  # class counts and names from the dataset, checked where given
    val_set, val_loader = B.build_data(cfg, "val", device)
    model = B.build_model(cfg, load_weights_from_config=resume is None)
    criterion = B.build_criterion(cfg)
    metrics = B.build_metrics(cfg).to(device)
    inferer = B.build_inferer(cfg)
    batch_transform = B.build_batch_transform(cfg)
    from base.base_trainer import parse_monitor

    mode, monitor_key = parse_monitor(options.monitor)
    B.check_monitor(monitor_key, metrics, criterion, options.ema)
    if resume is None and hasattr(criterion, "prepare"):
        criterion.prepare(train_set)
    criterion.to(device)

    if options.sync_batchnorm and device.type != "cuda":
        raise ConfigError("trainer.sync_batchnorm: SyncBatchNorm runs on CUDA only; turn it off for this device")
    if options.sync_batchnorm and dist.is_dist():
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(device)
    if options.activation_checkpointing:
        from model.checkpointing import enable_activation_checkpointing

        try:
            parts = enable_activation_checkpointing(model)
        except ValueError as e:
            raise ConfigError(f"trainer.activation_checkpointing: {e}") from e
        log.info(f"activation checkpointing: {', '.join(parts)}")
    if options.channels_last:
        to_channels_last(model)
    # EMA is made from the plain model, before compile and DDP (timm's order).
    ema = None
    if options.ema is not None:
        decay = options.ema.get("decay", 0.999)
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
    optimizer = build_optimizer(cfg["optimizer"], model)
    n_batches = len(train_loader) if options.limit_train_batches is None else \
        min(options.limit_train_batches, len(train_loader))
    steps_per_epoch = math.ceil(n_batches / options.grad_accum_steps)
    scheduler = build_scheduler(cfg.get("lr_scheduler"), optimizer, options.epochs, steps_per_epoch, mode)
    swa = None
    if options.swa is not None:
        try:
            swa = SWA(model, optimizer, options.epochs, **options.swa)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"trainer.swa: {e}") from e
    scaler = torch.amp.GradScaler(device.type) if options.amp == "fp16" else None
    train_model = model
    if options.compile:
        train_model = torch.compile(model, **(options.compile if isinstance(options.compile, dict) else {}))
    if dist.is_dist():
        ids = [device.index] if device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(train_model, device_ids=ids)

    # Every process built the same model from `seed`; from here on each draws its own random
    # stream (dropout, mixup), as timm does. DDP starts all processes from process 0's weights.
    seed_everything(cfg.get("seed", 42) + dist.rank(), cfg.get("deterministic", False))

    paths = _run_paths(cfg, options, resume, run_id)
    setup_logging(paths.log / "train.log" if dist.is_main() else None)
    if dist.is_main() and resume is None:
        save_config(cfg, paths.models / "config.json")
    log.info(f"run {paths.name}/{paths.run_id}: {len(train_set)} train / {len(val_set)} val samples, "
             f"device {device}, {parameter_summary(model)}")
    log.info(f"checkpoints: {paths.models}   logs: {paths.log}")
    tracker = Tracker(paths.log, cfg, options.tensorboard, options.wandb, run_name=f"{paths.name}/{paths.run_id}")
    trainer_cls = TRAINERS.get(options.type, "trainer.type")
    trainer = trainer_cls(model=model, train_model=train_model, criterion=criterion, metrics=metrics,
                          optimizer=optimizer, scheduler=scheduler, scaler=scaler, ema=ema,
                          train_loader=train_loader, val_loader=val_loader, inferer=inferer, device=device,
                          batch_transform=batch_transform, swa=swa,
                          options=options, config=cfg, paths=paths, tracker=tracker)
    trainer.callbacks = list(callbacks)
    if resume is not None and dist.is_main():  # the run's config.json changes once the resumed run has saved
        trainer.callbacks.insert(0, _save_config_once(cfg, paths.models / "config.json"))
    try:
        if resume is not None:
            trainer.resume(resume)
        summary = trainer.train()
        if options.report:
            trainer.report()
    finally:
        tracker.close()
    if summary["best"] is not None:
        log.info(f"best {summary['monitor']} {summary['best']:.4f} at epoch {summary['best_epoch']}: "
                 f"{paths.models / 'model_best.pth'}")
    return trainer, summary


def parameter_summary(model):
    """'2.26M parameters train' (', 0.50M frozen' when some are): what the optimizer updates."""
    train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return f"{train / 1e6:.2f}M parameters train" + (f", {frozen / 1e6:.2f}M frozen" if frozen else "")


def _save_config_once(cfg, path):
    """A callback writing the resumed run's config after its first validated epoch is saved, so a
    resume that fails before (bad data, a bad override) leaves the run's config.json as it was."""
    def write(trainer, epoch, row):
        if not done:
            save_config(cfg, path)
            done.append(epoch)
    done = []
    return write


def _run_paths(cfg, options, resume, run_id=None):
    if resume is not None:  # continue in the resumed run's own directories
        run = load_checkpoint(resume).get("run")
        if not isinstance(run, dict):
            raise CheckpointError(f"{resume}: not a training checkpoint of this framework (no run info)")
        return RunPaths(options.save_dir, run["name"], run["run_id"]).ensure()
    run_id = RunPaths.create(options.save_dir, cfg["name"], run_id).run_id if dist.is_main() else None
    return RunPaths(options.save_dir, cfg["name"], dist.broadcast_object(run_id))
