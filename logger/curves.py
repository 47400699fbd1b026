"""Training curves from metrics.csv: train vs val loss on one plot, every metric over epochs, the
monitored one marked at its best epoch."""
import csv
import math

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt

PREFIXES = ("train", "val", "val_ema", "val_swa")  # one line each, in this order
STYLE = {"train": "--", "val": "-", "val_ema": "-.", "val_swa": ":"}


def read_metrics_csv(path):
    """Rows of metrics.csv as {column: float}; empty and non-numeric cells are left out."""
    with open(path, newline="") as f:
        rows = []
        for raw in csv.DictReader(f):
            row = {}
            for k, v in raw.items():
                try:
                    row[k] = float(v)
                except (TypeError, ValueError):
                    pass
            rows.append(row)
    return rows


def curve_series(rows):
    """{panel: {column: (epochs, values)}}: panel 'loss' holds train/loss, val/loss, ...; every
    other metric ('f1', 'mask_acc', ...) has its panel with one line per prefix. Single loss
    terms (loss_mask, ...) and per-step scalars stay in TensorBoard."""
    panels = {}
    columns = [k for row in rows for k in row]
    for key in dict.fromkeys(columns):  # first-seen order, no duplicates
        prefix, _, name = key.partition("/")
        if prefix not in PREFIXES or not name or name.startswith("loss_"):
            continue
        points = [(r["epoch"], r[key]) for r in rows if key in r and "epoch" in r and math.isfinite(r[key])]
        if points:
            panels.setdefault(name, {})[key] = tuple(map(list, zip(*points)))
    order = sorted(panels, key=lambda n: n != "loss")  # loss first, metrics as they appear
    return {n: dict(sorted(panels[n].items(), key=lambda kv: PREFIXES.index(kv[0].split("/")[0])))
            for n in order}


def best_point(rows, monitor_key, mode):
    """(epoch, value) of the monitored metric's best row (the first of ties, as the trainer decides), or None."""
    points = [(r["epoch"], r[monitor_key]) for r in rows
              if monitor_key in r and "epoch" in r and math.isfinite(r[monitor_key])]
    if not points or mode not in ("min", "max"):
        return None
    pick = max if mode == "max" else min
    return pick(points, key=lambda p: p[1])  # max/min return the first of equal values


def curves_figure(rows, monitor_key=None, mode=None):
    """(figure, series): the curves of `rows` (read_metrics_csv), `series` as curve_series gives them."""
    series = curve_series(rows)
    best = best_point(rows, monitor_key, mode) if monitor_key else None
    n = max(1, len(series))
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax in axes.flat[len(series):]:
        ax.axis("off")
    for ax, (name, lines) in zip(axes.flat, series.items()):
        for key, (epochs, values) in lines.items():
            ax.plot(epochs, values, STYLE[key.split("/")[0]], marker="o", markersize=3, label=key)
        if best is not None and monitor_key in lines:
            ax.plot([best[0]], [best[1]], "*", color="crimson", markersize=14, zorder=5,
                    label=f"best {best[1]:.4g} (epoch {best[0]:g})")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if not series:
        axes.flat[0].text(0.5, 0.5, "no epochs logged yet", ha="center", va="center")
    fig.tight_layout()
    return fig, series
