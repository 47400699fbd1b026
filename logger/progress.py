"""A tqdm bar on a terminal; periodic log lines when stdout is not one (CI, nohup, files)."""
import logging
import sys
import time

from tqdm import tqdm

from utils import dist

log = logging.getLogger("facetrain")


class Progress:
    def __init__(self, total, desc, mode="auto", log_every=50):
        if not dist.is_main():
            mode = "none"
        elif mode == "auto":
            mode = "bar" if sys.stdout.isatty() else "log"
        self.mode, self.total, self.desc, self.log_every = mode, total, desc, log_every
        self.n, self.start = 0, time.time()
        self.bar = tqdm(total=total, desc=desc, dynamic_ncols=True, leave=False) if mode == "bar" else None

    def update(self, **values):
        self.n += 1
        text = " ".join(f"{k} {_fmt(v)}" for k, v in values.items())
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        elif self.mode == "log" and (self.n % self.log_every == 0 or self.n == self.total):
            rate = self.n / max(time.time() - self.start, 1e-9)
            log.info(f"{self.desc} [{self.n}/{self.total}] {text} ({rate:.2f} it/s)")

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3e}" if 0 < abs(v) < 1e-3 else f"{v:.4f}"
    return str(v)
