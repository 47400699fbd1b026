"""A labelled image set read into one table, and its label cells turned into class ids.

Two layouts give the same table (columns path, line, split, one per label, the group):

    ImageFolder  <root>/<split>/<class>/<image>     class = folder; images directly in <root>/<split>/
                                                    are unlabelled (a split to predict)
    CSV          path,<label columns>[,<group>][,split]   path relative to the root (or absolute)

A label cell is a class name, or a whole number read as an id into a class list the config
gives (UTKFace-style 0/1 genders); `NaN`, `None`, `null`, `N/A` are missing labels, as an empty cell
is, unless the config names such a class. A numeric column with `bins` (ascending lower edges, e.g.
ages [0, 30, 60]) becomes one class per range; bins with a `period` (360 for an angle in degrees)
wrap around, so 350 and -10 fall in the bin of 0. The class order is the config's, else sorted
over the whole table (numbers numerically, e.g. 2 before 10), so every split and every run
numbers the classes alike. Hidden files (`._x.jpg`, `.DS_Store`) are ignored.
"""
from pathlib import Path

import numpy as np
import pandas as pd

from utils.errors import ConfigError, DataError

from .tables import read_csv

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
FOLDER_LABEL = "label"  # the table column holding an ImageFolder's class folder
SPLITS = ("train", "val", "test")
MISSING = {"nan", "none", "null", "na", "n/a", "<na>", "#n/a"}  # what spreadsheets and pandas write for no value
LAYOUT = """expected one of:
    {root}/<split>/<class>/<image>     ImageFolder (split folders train, val, test; class folders inside)
    {root}/<csv>                       a CSV with a path column (relative to {root}) and label columns"""


def image_files(folder):
    """The images in `folder`, sorted, hidden/junk files left out."""
    return [p for p in sorted(Path(folder).iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTS]


def _folders(folder):
    return [d for d in sorted(Path(folder).iterdir()) if d.is_dir() and not d.name.startswith(".")]


def scan_folder(root):
    """The ImageFolder table of `root`: one row per image, label "" where it is not in a class folder."""
    root = Path(root)
    splits = _folders(root) if root.is_dir() else []
    rows = []
    for split in splits:
        rows += [(f"{split.name}/{p.name}", "", split.name) for p in image_files(split)]
        for folder in _folders(split):
            rows += [(f"{split.name}/{folder.name}/{p.name}", folder.name, split.name) for p in image_files(folder)]
    if not rows:
        raise DataError(f"no images under {root}; " + LAYOUT.format(root=root))
    if not {s.name for s in splits} & set(SPLITS) and not any(_folders(s) for s in splits):
        # root/<class>/<image>: class folders where split folders belong (a flat ImageFolder, or root one level deep)
        raise DataError(f"{root} holds class folders {[s.name for s in splits][:8]} but no split folders "
                        f"{list(SPLITS)}: move them into {root}/train/ (val is then held out of train), or, if "
                        "they are one split of your data, give the folder above as data.dataset.args.root")
    table = pd.DataFrame(rows, columns=["path", FOLDER_LABEL, "split"])  # split: the folder
    table["line"] = 0  # no line to name: the path says where
    return table


def read_table(csv, path_column, columns):
    """The CSV as strings, cells stripped, with its line numbers; `columns` must be there."""
    table = read_csv(csv, (path_column, *columns), "image table")
    for column in table.columns.drop("line"):
        table[column] = table[column].str.strip()
    return table.rename(columns={path_column: "path"})


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_bins(bins, columns):
    """{column: (ascending lower edges, names or None, period or None)} from {column: edges or
    {"edges", "names", "period"}}."""
    out = {}
    for column, spec in (bins or {}).items():
        where = f"data.dataset.args.bins.{column}"
        if column not in columns:
            raise ConfigError(f"{where}: not a label column; label columns: {list(columns)}")
        edges, names, period = (spec.get("edges"), spec.get("names"), spec.get("period")) \
            if isinstance(spec, dict) else (spec, None, None)
        if isinstance(spec, dict) and set(spec) - {"edges", "names", "period"}:
            raise ConfigError(f"{where}: takes edges, names and period, got {sorted(spec)}")
        if not isinstance(edges, (list, tuple)) or len(edges) < 2 or not all(map(_number, edges)) \
                or any(a >= b for a, b in zip(edges, edges[1:])):
            raise ConfigError(f"{where}: expected two or more ascending lower edges such as [0, 30, 60] (classes "
                              f"0-30, 30-60, 60+), or {{\"edges\": [...], \"names\": [...]}}, got {spec!r}")
        if period is not None and not (_number(period) and edges[-1] < edges[0] + period):
            raise ConfigError(f"{where}.period: expected a number above the span of the edges {list(edges)} (360 "
                              f"for an angle in degrees: the last bin runs to {edges[0]} + 360), got {period!r}")
        out[column] = (list(edges), names, period)
    return out


def bin_names(edges, period=None):
    """'0-30', '30-60', '60+' for edges [0, 30, 60]: each range holds lo <= value < hi; with a period the
    last range ends where the first begins, one period on."""
    dash = " to " if edges[0] < 0 else "-"
    last = f"{edges[-1]:g}+" if period is None else f"{edges[-1]:g}{dash}{edges[0] + period:g}"
    return [f"{a:g}{dash}{b:g}" for a, b in zip(edges, edges[1:])] + [last]


def _as_float(cell):
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def missing(cell):
    return cell == "" or cell.lower() in MISSING


def infer_classes(cells):
    """Sorted distinct cells that are not missing; numerically when all are numbers."""
    names = sorted({c for c in cells if not missing(c)})
    if names and all(_as_float(c) is not None for c in names):
        names.sort(key=float)
    return names


def column_classes(column, cells, given, bins, where):
    """The class names of one label column: `given` (checked), the bins' names, or inferred."""
    edges, bin_given, period = bins or (None, None, None)
    if given is not None and bin_given is not None and list(map(str, given)) != list(map(str, bin_given)):
        raise ConfigError(f"{where}: {list(given)} differ from the names of bins.{column} {list(bin_given)}; "
                          "name the classes in one place")
    if given is None and bin_given is not None:
        given, where = bin_given, f"data.dataset.args.bins.{column}.names"  # the key the user set
    if given is not None:
        if not isinstance(given, (list, tuple)) or not given or len(set(map(str, given))) != len(given):
            raise ConfigError(f"{where}: expected a list of distinct class names, got {given!r}")
        if edges is not None and len(given) != len(edges):
            raise ConfigError(f"{where}: {len(given)} names for the {len(edges)} bins {list(edges)} of column "
                              f"'{column}'; give one name per bin (or leave the names out: {bin_names(edges, period)})")
        return [str(g) for g in given]
    if edges is not None:
        return bin_names(edges, period)
    names = infer_classes(cells)
    if not names:
        raise DataError(f"column '{column}' has no labels to name classes from; fill it or give the class list")
    return names


def encode(cells, classes, bins):
    """Class ids of `cells` (-1 where bad) and {row position: why}."""
    edges, _, period = bins or (None, None, None)
    ids = np.full(len(cells), -1, np.int64)
    bad = {}
    lookup = {name: i for i, name in enumerate(classes)}
    for i, cell in enumerate(cells):
        if missing(cell) and cell not in lookup:
            bad[i] = "empty label" if cell == "" else f"missing label ({cell!r})"
        elif edges is not None:
            value = _as_float(cell)
            if value is not None and period is not None:
                value = edges[0] + (value - edges[0]) % period  # around the circle, into the bins' turn
            if value is None:
                bad[i] = f"{cell!r} is not a number (the column is binned by {list(edges)})"
            elif value < edges[0]:
                bad[i] = (f"{cell} is below the first bin edge {edges[0]}: the edges must cover the data (an angle "
                          "needs bins that wrap around: give them a \"period\", e.g. 360)")
            else:
                ids[i] = np.searchsorted(edges, value, side="right") - 1
        elif cell in lookup:
            ids[i] = lookup[cell]
        elif cell.isdigit() and int(cell) < len(classes):  # an id into the class list
            ids[i] = int(cell)
        else:
            shown = classes if len(classes) <= 12 else classes[:12] + ["..."]
            bad[i] = f"label {cell!r} is not one of the classes {shown} (nor an id 0..{len(classes) - 1})"
    return ids, bad
