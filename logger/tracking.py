"""Where a run's numbers go: the console summary, metrics.csv, TensorBoard and W&B.

Train and validation scalars share one x-axis: the global optimizer step. Only the main
process writes anything.
"""
import logging

from utils import dist

from .metrics_csv import MetricsCSV

log = logging.getLogger("facetrain")


class Tracker:
    def __init__(self, log_dir, config=None, tensorboard=True, wandb=False, run_name=None):
        self.main = dist.is_main()
        self.tb = self.wandb = self.csv = None
        if not self.main:
            return
        self.csv = MetricsCSV(log_dir / "metrics.csv")
        self.log_dir, self.config = log_dir, config
        self._tb_enabled, self._wandb_cfg, self._run_name = tensorboard, wandb, run_name
        self.start(purge_step=None)

    def start(self, purge_step):
        if self._tb_enabled:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.log_dir), purge_step=purge_step)
        if self._wandb_cfg:
            import wandb

            kwargs = self._wandb_cfg if isinstance(self._wandb_cfg, dict) else {}
            kwargs = {"project": "facetrain", "name": self._run_name, "config": self.config,
                      "dir": str(self.log_dir), "resume": "allow", **kwargs}
            self.wandb = wandb.init(**kwargs)

    def resume(self, epoch, step):
        """Continue a run: forget anything logged after the checkpoint being resumed."""
        if not self.main:
            return
        self.csv.truncate(epoch)
        if self.tb is not None:
            self.tb.close()
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.log_dir), purge_step=step + 1)

    def log_step(self, step, scalars):
        if not self.main:
            return
        if self.tb is not None:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, step)
        if self.wandb is not None:
            self.wandb.log(scalars, step=step)

    def log_epoch(self, row, improved=False, best=None, monitor=None):
        if not self.main:
            return
        self.csv.append(row)
        step = row["step"]
        scalars = {k: v for k, v in row.items() if isinstance(v, (int, float)) and k not in ("step",)}
        self.log_step(step, scalars)
        if self.tb is not None:
            self.tb.flush()
        log.info(summary_line(row, improved, best, monitor))

    def log_artifacts(self, prefix, artifacts, epoch, step):
        """Confusion matrices after a validation: CSV in <log dir>/artifacts/, a figure in TensorBoard."""
        if not self.main or not artifacts:
            return
        from .figures import confusion_figure, save_matrix_csv

        for name, (matrix, names) in artifacts.items():
            save_matrix_csv(self.log_dir / "artifacts" / f"{prefix}_{name}_epoch{epoch:03d}.csv", matrix, names)
            if self.tb is not None:
                self.tb.add_figure(f"{prefix}/{name}", confusion_figure(matrix, names, f"{prefix} {name}"), step)

    def log_image(self, tag, rgb, step):
        """A rendered figure, (H, W, 3) uint8 RGB (logger.figures.figure_to_array), to TensorBoard and W&B."""
        if not self.main:
            return
        if self.tb is not None:
            self.tb.add_image(tag, rgb, step, dataformats="HWC")
            self.tb.flush()
        if self.wandb is not None:
            import wandb

            self.wandb.log({tag: wandb.Image(rgb)}, step=step)

    def close(self):
        if not self.main:
            return
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None


def summary_line(row, improved, best, monitor):
    """'epoch 3  train/loss 0.4100  val/loss 0.3900  val/f1 0.5120 (new best)  lr 1.00e-03  42s'.
    Training metrics and single loss terms go to metrics.csv and TensorBoard only."""
    parts = [f"epoch {row['epoch']}"]
    for k, v in row.items():
        if "/" not in k or not isinstance(v, (int, float)):
            continue
        prefix, name = k.split("/", 1)
        if name.startswith("loss_") or (prefix == "train" and name != "loss"):
            continue
        parts.append(f"{k} {v:.4f}")
    if monitor is not None and best is not None:
        parts.append("(new best)" if improved else f"(best {monitor} {best:.4f})")
    parts.append(f"lr {row['lr']:.2e}  {row['time']:.0f}s")
    return "  ".join(parts)
