"""The run report: figures people would rather look at than read, made once at the end of
training (trainer.report, on by default) and by test.py.

    <log dir>/report/curves.png             loss and metrics per epoch (metrics.csv), the monitored best marked
    <log dir>/report/<prefix>_<matrix>.png  the best epoch's confusion matrices (classification, video)
    <log dir>/report/samples.png            the first trainer.report_samples validation samples, best model
    test-<split>/samples.png                the same grid for the tested split (confusion matrices beside it)

The end-of-training figures also go to TensorBoard (and W&B) as images under report/.
"""
import logging
import time

import torch

from .curves import curves_figure, read_metrics_csv
from .figures import confusion_figure, figure_to_array, load_matrix_csv, save_png
from .sample_grid import class_names, draw_grid, find_normalize

log = logging.getLogger("facetrain")


def training_report(log_dir, tracker, *, step, model, dataset, inferer, device, metrics, epoch,
                    monitor_key=None, mode=None, samples=8, threshold=None):
    """Write the end-of-training figures; `epoch` is the one whose confusion matrices to show
    (the best), `model` the one to draw samples with (the best) at its decision `threshold`.
    Returns the PNG paths."""
    start = time.time()
    out = log_dir / "report"
    written = []

    def emit(fig, name):
        rgb = figure_to_array(fig)
        written.append(save_png(rgb, out / f"{name}.png"))
        if tracker is not None:
            tracker.log_image(f"report/{name}", rgb, step)

    fig, _ = curves_figure(read_metrics_csv(log_dir / "metrics.csv"), monitor_key, mode)
    emit(fig, "curves")
    # The trainer saved every validation's matrices as CSV (Tracker.log_artifacts); show the chosen epoch's.
    prefix = monitor_key.split("/")[0] if monitor_key and monitor_key.startswith("val") else "val"
    for name in metrics.artifacts():
        path = log_dir / "artifacts" / f"{prefix}_{name}_epoch{epoch:03d}.csv"
        if path.is_file():
            matrix, names = load_matrix_csv(path)
            emit(confusion_figure(matrix, names, f"{prefix} {name} (epoch {epoch})"), f"{prefix}_{name}")
    fig, _ = sample_grid(model, dataset, inferer, device, metrics, samples, threshold)
    if fig is not None:
        emit(fig, "samples")
    log.info(f"report: {len(written)} figure(s) in {out} ({time.time() - start:.1f}s)")
    return written


def test_report(out_dir, *, model, dataset, inferer, device, metrics, samples=8, threshold=None):
    """test.py's grid of the split's first samples: <out_dir>/samples.png (None if not drawable)."""
    fig, _ = sample_grid(model, dataset, inferer, device, metrics, samples, threshold)
    return None if fig is None else save_png(figure_to_array(fig), out_dir / "samples.png")


def sample_grid(model, dataset, inferer, device, metrics, n, threshold=None):
    """(figure, records) of the first `n` samples of `dataset` through `model`; (None, []) when the
    model's output is of no kind the grid draws (logger/sample_grid.py)."""
    samples, outputs = predict_samples(model, dataset, inferer, device, n)
    if not samples:
        return None, []
    fig, records = draw_grid(samples, outputs, names=class_names(metrics, dataset),
                             threshold=threshold if threshold is not None else segmentation_threshold(metrics),
                             normalize=find_normalize(getattr(dataset, "transform", None)),
                             layout=getattr(dataset, "layout", "CTHW"))
    if fig is None:
        log.info(f"report: no sample grid for a model output of type {_describe(outputs[0])}")
    return fig, records


@torch.no_grad()
def predict_samples(model, dataset, inferer, device, n):
    """The first `n` samples (validation transforms are deterministic) and the model's output for
    each, one at a time: images of different sizes need no padding."""
    model.eval()
    samples, outputs = [], []
    for i in range(min(n, len(dataset))):
        sample = dataset[i]
        out = inferer(model, sample["input"][None].to(device))
        samples.append(sample)
        outputs.append({k: v.float().cpu() for k, v in out.items()} if isinstance(out, dict) else out.float().cpu())
    return samples, outputs


def segmentation_threshold(metrics):
    """The decision threshold the metrics score at (BinarySegMetrics.threshold), else 0.5."""
    for m in getattr(metrics, "metrics", None) or []:
        if isinstance(getattr(m, "threshold", None), float):
            return m.threshold
    return 0.5


def _describe(output):
    if isinstance(output, dict):
        return "{" + ", ".join(f"{k}: {tuple(v.shape)}" for k, v in output.items()) + "}"
    return str(tuple(output.shape))
