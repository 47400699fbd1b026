"""Matrices people look at rather than read: confusion matrices as CSV and as figures;
figures rendered once to an RGB array for a PNG and TensorBoard alike."""
import csv

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt
import numpy as np


def save_matrix_csv(path, matrix, names):
    """Rows are true classes, columns predicted classes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true\\pred", *names])
        for name, row in zip(names, matrix):
            writer.writerow([name, *map(int, row)])


def load_matrix_csv(path):
    """(matrix, names) back from a file written by save_matrix_csv."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    names = rows[0][1:]
    return np.array([[int(v) for v in r[1:]] for r in rows[1:]], np.int64), names


def confusion_figure(matrix, names, title=""):
    matrix = np.asarray(matrix)
    n = len(names)
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * n + 2), max(3.5, 0.45 * n + 1.5)))
    ax.imshow(matrix, cmap="Blues")
    rotation = 90 if n > 6 else 0 if max(map(len, names), default=0) <= 5 else 30  # long names would overlap
    ax.set_xticks(range(n), names, rotation=rotation, ha="right" if rotation == 30 else "center")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > threshold else "black")
    fig.tight_layout()
    return fig


def save_artifacts(artifacts, folder, stem_prefix="", png=True):
    """Write each (matrix, names) artifact as CSV (and PNG) into `folder`; returns the paths."""
    paths = []
    for name, (matrix, names) in artifacts.items():
        csv_path = folder / f"{stem_prefix}{name}.csv"
        save_matrix_csv(csv_path, matrix, names)
        paths.append(str(csv_path))
        if png:
            fig = confusion_figure(matrix, names, name)
            fig.savefig(folder / f"{stem_prefix}{name}.png", dpi=100)
            plt.close(fig)
    return paths


def figure_to_array(fig, dpi=100):
    """Render a figure once: an (H, W, 3) uint8 RGB array; the figure is closed."""
    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return rgb


def save_png(rgb, path):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)
    return path
