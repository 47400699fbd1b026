"""The generic Trainer: one training epoch and one validation pass, for any task family.

Order of operations follows timm: forward under autocast, loss scaled and divided by the
accumulation group size, DDP gradient sync only on the group's last batch, gradients
unscaled before clipping, then optimizer step, EMA update and per-step LR schedule.
"""
import contextlib
import logging

import torch

from base import BaseTrainer
from logger.progress import Progress
from utils.errors import ConfigError, NonFiniteLossError
from utils.registry import TRAINERS

from .batch import Mean, batch_size, to_device, total_loss
from .classes import labels_of
from .evaluator import autocast, evaluate
from .micro_batch import find_micro_batch, split

log = logging.getLogger("facetrain")


@TRAINERS.register
class Trainer(BaseTrainer):
    def __init__(self, *, train_model, metrics, train_loader, val_loader, inferer, device, batch_transform=None,
                 swa=None, **base):
        super().__init__(**base)
        self.swa = swa  # trainer/swa.py, or None
        self.micro_batch = self.options.micro_batch_size  # "auto" is resolved on the first batch
        self.epoch = 0
        self.batch_transform = batch_transform  # e.g. mixup: (inputs, targets) -> (inputs, targets)
        self.train_model = train_model  # compiled and/or DDP-wrapped view of self.model
        self.metrics, self.inferer, self.device = metrics, inferer, device
        self.train_loader, self.val_loader = train_loader, val_loader
        self.decisions = {}  # weights ("model", "ema") -> the metrics' decision on the last validation
        self.gradients_checked = False  # every trainable parameter got a gradient (first update)

    def _limit(self, loader, limit):
        return len(loader) if limit is None else min(limit, len(loader))

    def train_epoch(self, epoch):
        self.epoch = epoch
        opts = self.options
        self.train_model.train()
        self.train_loader.sampler.set_epoch(epoch)
        metrics = self.metrics if opts.train_metrics else None
        if metrics is not None:
            metrics.reset()
        mean = Mean()
        n = self._limit(self.train_loader, opts.limit_train_batches)
        accum = opts.grad_accum_steps
        bar = Progress(n, f"epoch {epoch}/{opts.epochs}", mode=opts.progress, log_every=opts.log_every)
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(self.train_loader):
            if i >= n:
                break
            group = min(accum, n - (i // accum) * accum)  # the last group may be short
            update = (i + 1) % accum == 0 or i + 1 == n
            inputs = to_device(batch["input"], self.device, opts.channels_last)
            targets = to_device(batch["target"], self.device)
            if self.batch_transform is not None:
                inputs, targets = self.batch_transform(inputs, targets)
            if self.micro_batch == "auto":
                self.micro_batch = find_micro_batch(self.model, self.criterion, inputs, targets,
                                                    lambda: autocast(self.device, opts.amp))
            value, terms = 0.0, {}
            chunks = split(inputs, targets, self.micro_batch)
            for j, (x, y, share) in enumerate(chunks):
                sync = update and j == len(chunks) - 1  # DDP syncs once per optimizer step
                chunk_value, chunk_terms, outputs = self._forward_backward(x, y, share / group, sync, epoch, i)
                value += chunk_value * share
                for k, v in chunk_terms.items():
                    terms[k] = terms.get(k, 0.0) + float(v) * share
                if metrics is not None:
                    metrics.update(_detach_float(outputs), y)
            if update:
                self._optimizer_step()
                if self.global_step % opts.log_every == 0:
                    self.tracker.log_step(self.global_step, {"train/loss_step": value,
                                                             "lr": self.optimizer.param_groups[0]["lr"]})
            mean.update({"loss": value, **terms}, batch_size(batch))
            bar.update(loss=mean.sums["loss"] / mean.count, lr=self.optimizer.param_groups[0]["lr"])
        bar.close()
        result = mean.compute("train")
        if metrics is not None:
            result.update({f"train/{k}": v for k, v in metrics.compute().items()})
        return result

    def _forward_backward(self, inputs, targets, scale, sync, epoch, index):
        """Forward, loss and backward of one (micro-)batch; the loss is scaled by its share of the step."""
        no_sync = not sync and hasattr(self.train_model, "no_sync")
        with self.train_model.no_sync() if no_sync else contextlib.nullcontext():
            with autocast(self.device, self.options.amp):
                outputs = self.train_model(inputs)
                loss, terms = total_loss(self.criterion(outputs, targets))
            value = loss.item()
            if value != value or value in (float("inf"), float("-inf")):
                self._non_finite(value, terms, epoch, index)
            loss = loss * scale
            (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        return value, terms, outputs

    def _optimizer_step(self):
        opts = self.options
        if not self.gradients_checked:
            self._check_gradients()
        if opts.clip_grad_norm:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), opts.clip_grad_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        if self.swa is None or not self.swa.controls_lr(self.epoch):
            self.scheduler.step_iter()
        self.global_step += 1

    def _check_gradients(self):
        """Before the first update: a trainable parameter without a gradient never learns, fills
        optimizer state and checkpoints, and makes DDP fail at the next step with a message that names
        no parameter. Refused here with the names; freeze what should not train (requires_grad=False)."""
        self.gradients_checked = True
        dead = [n for n, p in self.model.named_parameters() if p.requires_grad and p.grad is None]
        if dead:
            shown = ", ".join(dead[:6]) + (f", ... ({len(dead)} in all)" if len(dead) > 6 else "")
            raise ConfigError(
                f"model: {len(dead)} trainable parameter tensor(s) got no gradient from the first batch: {shown}. "
                "They never learn (and DDP refuses them). Remove the modules the forward pass does not use, or "
                "freeze them (requires_grad=False) in the model.")

    def _non_finite(self, value, terms, epoch, index):
        parts = ", ".join(f"{k}={float(v):.4g}" for k, v in terms.items())
        last = self.paths.models / "model_last.pth"
        saved = f"the last saved checkpoint is {last}" if last.exists() else "no checkpoint was saved yet"
        raise NonFiniteLossError(
            f"training loss is {value} at epoch {epoch}, batch {index} (step {self.global_step})"
            f"{' [' + parts + ']' if parts else ''}. The run stops without saving; {saved}. "
            "Try a lower learning rate, trainer.clip_grad_norm, or trainer.amp='bf16' instead of 'fp16'.")

    def end_epoch(self, epoch, score):
        swa_lr = self.swa is not None and self.swa.lr is not None and epoch >= self.swa.start_epoch
        if not swa_lr:  # from the first SWA epoch on, SWALR owns the learning rate
            self.scheduler.step_epoch(score)
        if self.swa is not None:
            self.swa.end_epoch(self.model, epoch)

    def end_training(self):
        """SWA: recompute BatchNorm statistics, validate as val_swa/*, save model_swa.pth."""
        if self.swa is None or not self.swa.started:
            return {}
        from utils import dist
        from utils.checkpoint import save_checkpoint

        model = self.swa.finalize(self.train_loader, self.device, self.options.channels_last,
                                 self.options.limit_train_batches)
        result = evaluate(model, self.val_loader, prefix="val_swa", **self._eval_args())
        if dist.is_main():  # a file of the SWA weights alone: scored, served and exported as them
            state = self.state_dict(self.last_log.get("epoch", 0))
            state.update(model=model.state_dict(), ema=None, weights="swa", decisions={"swa": self.metrics.decision()},
                         metrics={**state["metrics"], **result})
            save_checkpoint(state, self.paths.models / "model_swa.pth")
        log.info(f"SWA over {int(self.swa.model.n_averaged)} epochs: " + "  ".join(
            f"{k} {v:.4f}" for k, v in result.items()) + f" -> {self.paths.models / 'model_swa.pth'}")
        return result

    def report(self):
        """Figures of the finished run (logger/report.py): curves, the best epoch's confusion matrices,
        validation samples through the best model. Main process only; a failure is logged, not raised,
        since the run itself is complete and saved."""
        from utils import dist

        if not dist.is_main():
            return []
        from logger.report import training_report

        try:
            model, threshold = self._best_model()
            return training_report(
                self.paths.log, self.tracker, step=self.global_step, model=model,
                dataset=self.val_loader.dataset, inferer=self.inferer, device=self.device, metrics=self.metrics,
                epoch=self.best_epoch or self.last_log.get("epoch", 0), monitor_key=self.monitor_key, mode=self.mode,
                samples=self.options.report_samples, threshold=threshold)
        except Exception:
            log.exception("report: could not draw the run's figures")
            return []

    def _best_model(self):
        """(a copy of the model with model_best.pth's weights (EMA ones when the run monitored val_ema/*),
        their decision threshold); the model itself and its last decision when nothing was monitored."""
        import copy

        from utils.checkpoint import load_checkpoint, load_weights

        from .checkpoints import decision_threshold, pick_weights

        path = self.paths.models / "model_best.pth"
        if not path.is_file():
            return self.model, decision_threshold(self.config, {"decisions": self.decisions})[0]
        ckpt = load_checkpoint(path)
        which, state = pick_weights(ckpt, "auto")
        model = copy.deepcopy(self.model)
        load_weights(model, state, strict=True, source=f"{path} ({which} weights)")
        return model, decision_threshold(self.config, ckpt, which)[0]

    def state_dict(self, epoch, rng=None):
        """Also says which weights the file stands for ("ema" when the run monitored val_ema/*) and the
        decisions (threshold) each set of weights is used at."""
        state = super().state_dict(epoch, rng)
        monitors_ema = self.ema is not None and (self.monitor_key or "").startswith("val_ema/")
        state.update(weights="ema" if monitors_ema else "model", decisions=dict(self.decisions),
                     labels=labels_of(self.train_loader.dataset))
        return state

    def resume(self, path):
        from .checkpoints import decisions

        ckpt = super().resume(path)
        self.decisions = decisions(ckpt)  # for epochs saved before their next validation
        return ckpt

    def load_extra_state(self, state):
        if self.swa is not None and state.get("swa") is not None:
            self.swa.load_state_dict(state["swa"])

    def extra_state(self):
        return {"swa": self.swa.state_dict()} if self.swa is not None else {}

    def _eval_args(self):
        opts = self.options
        return dict(device=self.device, inferer=self.inferer, criterion=self.criterion, metrics=self.metrics,
                    amp=opts.amp, channels_last=opts.channels_last, limit=opts.limit_val_batches,
                    progress=opts.progress)

    def valid_epoch(self, epoch):
        from utils import dist

        # Under DDP each process's BatchNorm statistics followed its own last batches (DDP broadcasts
        # process 0's only as a training forward starts): validate, and save, their mean (timm's
        # distribute_bn), so every shard is scored with the weights the checkpoint holds.
        for model in (self.model, self.ema.module if self.ema else None):
            if model is not None:
                dist.average_buffers(model)
        common = self._eval_args()
        result = {}
        for prefix, model in (("val", self.model), ("val_ema", self.ema.module if self.ema else None)):
            if model is not None:
                result.update(evaluate(model, self.val_loader, prefix=prefix, **common))
                self.tracker.log_artifacts(prefix, self.metrics.artifacts(), epoch, self.global_step)
                self.decisions["ema" if prefix == "val_ema" else "model"] = self.metrics.decision()
        return result


def _detach_float(outputs):
    if isinstance(outputs, dict):
        return {k: v.detach().float() for k, v in outputs.items()}
    return outputs.detach().float()
