"""BaseTrainer owns the epoch loop, the monitor, early stopping, checkpoints and resume.

A subclass owns one epoch: `train_epoch(epoch)` and `valid_epoch(epoch)` each return a
dict of scalars ("train/loss", "val/f1", ...).

`callbacks`: callables `(trainer, epoch, row)` run after every validated epoch, once its row is
logged and its checkpoints saved; one that returns a reason (a truthy string) stops the run
there, as early stopping does (e.g. tools/tune.py's pruning).
"""
import logging
import math
import time

from utils import dist
from utils.checkpoint import copy_checkpoint, load_checkpoint, load_weights, save_checkpoint
from utils.errors import CheckpointError, ConfigError
from utils.seed import get_rng_states, set_rng_states

log = logging.getLogger("facetrain")

CHECKPOINT_FORMAT = 1


def parse_monitor(spec):
    """'max val/f1' -> ('max', 'val/f1'); 'off' -> ('off', None)."""
    if spec in (None, "off"):
        return "off", None
    parts = str(spec).split()
    if len(parts) != 2 or parts[0] not in ("min", "max"):
        raise ConfigError(f"trainer.monitor: expected 'min <metric>', 'max <metric>' or 'off', got {spec!r}")
    return parts[0], parts[1]


class BaseTrainer:
    def __init__(self, *, model, optimizer, scheduler, options, config, paths, tracker, criterion=None,
                 scaler=None, ema=None):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.criterion, self.scaler, self.ema = criterion, scaler, ema
        self.options, self.config, self.paths, self.tracker = options, config, paths, tracker
        self.mode, self.monitor_key = parse_monitor(options.monitor)
        self.best = None
        self.best_epoch = None
        self.bad_epochs = 0
        self.top_k = []  # [score, epoch] of the kept epoch checkpoints, best first
        self.start_epoch = 1
        self.global_step = 0
        self.last_log = {}
        self.callbacks = []
        self.stop_reason = None

    # --- one epoch: the subclass -------------------------------------------------------
    def train_epoch(self, epoch):
        raise NotImplementedError

    def valid_epoch(self, epoch):
        raise NotImplementedError

    def end_epoch(self, epoch, score):
        """After validation, before checkpointing: step the per-epoch LR schedule."""
        self.scheduler.step_epoch(score)

    def end_training(self):
        """After the last epoch: a dict of extra scalars to log (e.g. SWA results), or {}."""
        return {}

    def extra_state(self):
        """Subclass state that must travel in checkpoints (plain data)."""
        return {}

    def load_extra_state(self, state):
        pass

    # --- the loop --------------------------------------------------------------------
    def train(self):
        """Run the remaining epochs; returns a summary dict."""
        epochs = self.options.epochs
        stopped_early = False
        for epoch in range(self.start_epoch, epochs + 1):
            start = time.time()
            row = {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]}
            row.update(self.train_epoch(epoch))
            if epoch % self.options.val_every == 0 or epoch == epochs:
                row.update(self.valid_epoch(epoch))
            score = row.get(self.monitor_key) if self.monitor_key else None
            self.end_epoch(epoch, score)
            row["step"] = self.global_step
            row["time"] = time.time() - start
            improved = self._update_monitor(score, epoch)
            self.last_log = row
            rng = dist.all_gather_object(get_rng_states())  # every process's, so each resumes its own
            if dist.is_main():
                self._save(epoch, improved, score, rng)
            self.tracker.log_epoch(row, improved=improved, best=self.best, monitor=self.monitor_key)
            if self._callbacks_stop(epoch, row):
                stopped_early = True
                break
            if self._should_stop():
                log.info(f"early stopping: {self.monitor_key} did not improve for {self.bad_epochs} "
                         f"validations (best {self.best:.4f} at epoch {self.best_epoch})")
                stopped_early = True
                break
        final = self.end_training()
        if final:  # one more metrics.csv row, for the last epoch
            self.tracker.log_epoch({"epoch": self.last_log.get("epoch"), "lr": self.optimizer.param_groups[0]["lr"],
                                    "step": self.global_step, "time": 0.0, **final})
        return {"best": self.best, "best_epoch": self.best_epoch, "monitor": self.monitor_key,
                "last_epoch": self.last_log.get("epoch"), "stopped_early": stopped_early,
                "stop_reason": self.stop_reason, "run_dir": str(self.paths.models)}

    def _callbacks_stop(self, epoch, row):
        if not any(k.startswith("val") for k in row):  # no validation this epoch
            return False
        reasons = [r for r in (cb(self, epoch, row) for cb in self.callbacks) if r]
        self.stop_reason = dist.broadcast_object(str(reasons[0]) if reasons else None)  # rank 0 decides
        if self.stop_reason:
            log.info(f"stopped after epoch {epoch}: {self.stop_reason}")
        return bool(self.stop_reason)

    def _update_monitor(self, score, epoch):
        if self.mode == "off" or score is None or not math.isfinite(score):
            if score is not None:
                self.bad_epochs += 1
            return False
        better = self.best is None or (score > self.best if self.mode == "max" else score < self.best)
        if better:
            self.best, self.best_epoch, self.bad_epochs = score, epoch, 0
        else:
            self.bad_epochs += 1
        return better

    def _should_stop(self):
        patience = self.options.early_stop
        stop = bool(patience) and self.mode != "off" and self.bad_epochs >= patience
        return dist.broadcast_object(stop)  # decided once, so every process stops together

    # --- checkpoints -----------------------------------------------------------------
    def state_dict(self, epoch, rng=None):
        """Plain data only (tensors, numbers, strings, lists, dicts): loads with weights_only=True."""
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": epoch,
            "global_step": self.global_step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "criterion": self.criterion.state_dict() if self.criterion is not None else None,
            "monitor": {"mode": self.mode, "key": self.monitor_key, "best": self.best,
                        "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs},
            "top_k": [list(x) for x in self.top_k],
            "metrics": {k: v for k, v in self.last_log.items() if isinstance(v, (int, float))},
            "config": self.config,
            "run": {"name": self.paths.name, "run_id": self.paths.run_id},
            "rng": rng if rng is not None else [get_rng_states()],  # one entry per process
            "extra": self.extra_state(),
        }

    def _epoch_file(self, epoch):
        return self.paths.models / f"checkpoint-epoch{epoch:03d}.pth"

    def _save(self, epoch, improved, score, rng):
        keep_k, period = self.options.save_top_k, self.options.save_period
        periodic = bool(period) and epoch % period == 0
        evicted = []
        if keep_k and score is not None and math.isfinite(score) and self.mode != "off":
            self.top_k.append([score, epoch])
            self.top_k.sort(key=lambda x: -x[0] if self.mode == "max" else x[0])
            evicted = [e for _, e in self.top_k[keep_k:]]
            self.top_k = self.top_k[:keep_k]
        last = self.paths.models / "model_last.pth"
        save_checkpoint(self.state_dict(epoch, rng), last)
        if improved:
            copy_checkpoint(last, self.paths.models / "model_best.pth")
        if periodic or any(e == epoch for _, e in self.top_k):
            copy_checkpoint(last, self._epoch_file(epoch))
        for e in evicted:
            if e != epoch and not (period and e % period == 0):
                self._epoch_file(e).unlink(missing_ok=True)

    def resume(self, path):
        """Restore everything from a checkpoint so the run continues exactly."""
        ckpt = load_checkpoint(path)
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path}: not a training checkpoint of this framework (no 'format' "
                                  f"{CHECKPOINT_FORMAT}); to start from its weights use load_from instead")
        load_weights(self.model, ckpt["model"], strict=True, source=str(path))
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except ValueError as e:  # e.g. a file written while a model still held stages that never ran
            raise CheckpointError(f"{path}: its optimizer state does not fit this model's trainable parameters "
                                  f"({e}); start a new run from its weights with load_from instead") from e
        self.scheduler.load_state_dict(ckpt["scheduler"])
        for name in ("scaler", "ema", "criterion"):
            obj, state = getattr(self, name), ckpt.get(name)
            if obj is not None and state is not None:
                obj.load_state_dict(state)
            elif (obj is None) != (state is None) and name != "criterion":
                log.warning(f"resume: the checkpoint {'has' if state is not None else 'has no'} {name} state "
                            f"but this run {'does not use' if obj is None else 'uses'} one")
        mon = ckpt["monitor"]
        if mon["key"] == self.monitor_key and mon["mode"] == self.mode:
            self.best, self.best_epoch, self.bad_epochs = mon["best"], mon["best_epoch"], mon["bad_epochs"]
            self.top_k = [list(x) for x in ckpt.get("top_k", [])]
        else:
            log.warning(f"resume: monitor changed from {mon['mode']} {mon['key']} to {self.options.monitor}; "
                        "best score and top-k start afresh")
        self.load_extra_state(ckpt.get("extra") or {})
        self.start_epoch = ckpt["epoch"] + 1
        self.global_step = ckpt["global_step"]
        self.last_log = dict(ckpt.get("metrics", {}))
        states = ckpt["rng"]
        if len(states) != dist.world_size():
            log.warning(f"resume: the checkpoint was written by {len(states)} process(es), this run has "
                        f"{dist.world_size()}; random streams restart from process 0's")
        set_rng_states(states[dist.rank()] if len(states) == dist.world_size() else states[0])
        self.tracker.resume(ckpt["epoch"], self.global_step)
        log.info(f"resumed from {path} at epoch {ckpt['epoch']} (step {self.global_step}); "
                 f"best {self.monitor_key} = {self.best}")
        return ckpt
