"""Which clips a split holds, with their labels: class folders, or an annotation file.

    <root>/<split>/<class>/<clip>.mp4            video files (.avi, .mkv, ... too)
    <root>/<split>/<class>/<clip_id>/*.jpg       extracted frames, in frame-number order
    <root>/<split>/<clip>.mp4 or <clip_id>/      an unlabelled split (no class folders)
    annotation file: CSV `path,label` (or a whitespace-separated .txt, mmaction style)

A folder directly holding images is a clip; any other folder under a split is a class.
"""
import dataclasses
import logging
import re
from pathlib import Path
from typing import Optional

import pandas as pd

from utils.errors import DataError

from .video_io import FRAME_EXTS, is_video

log = logging.getLogger("facetrain")

LAYOUT = """expected layout (one of):
    {root}/{split}/<class>/<clip>.mp4 (or .avi)       video files, one folder per class
    {root}/{split}/<class>/<clip_id>/<frame>.jpg      extracted frames (tools/extract_frames.py)
    {root}/{split}/<clip>.mp4 or <clip_id>/           an unlabelled split
  or annotation_file=<csv> with columns path,label (paths relative to {root})"""


@dataclasses.dataclass
class Clip:
    path: Path
    name: str  # identifies the clip in predictions: <class>/<clip> or the annotation path
    label: Optional[int] = None

    @property
    def is_video(self):
        return self.path.is_file()


def _visible(folder):
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _holds_frames(folder):
    return any(p.is_file() and p.suffix.lower() in FRAME_EXTS for p in folder.iterdir())


def _is_clip(path):
    return is_video(path) or (path.is_dir() and _holds_frames(path))


def class_folders(split_dir):
    return [p.name for p in _visible(split_dir) if p.is_dir() and not _holds_frames(p)]


def scan_split(root, split, classes=None):
    """(clips, class names) of `<root>/<split>`; labels index `classes` (default: every class
    folder found in any split under root, sorted, so ids agree across splits)."""
    root = Path(root)
    split_dir = root / split
    layout = LAYOUT.format(root=root, split=split)
    if not split_dir.is_dir():
        raise DataError(f"{split_dir} not found; {layout}")
    entries = _visible(split_dir)
    flat = [p for p in entries if _is_clip(p)]
    folders = [p for p in entries if p.is_dir() and p not in flat]
    if flat and folders:
        raise DataError(f"{split_dir} mixes clips ({flat[0].name}) with class folders ({folders[0].name}); "
                        f"{layout}")
    if flat:  # unlabelled split
        return [Clip(p, p.stem if p.is_file() else p.name) for p in flat], list(classes or [])
    if classes is None:
        found = {name for d in _visible(root) if d.is_dir() for name in class_folders(d)}
        classes = sorted(found)
        log.info(f"{split}: classes from the class folders under {root}: {classes}")
    index = {name: i for i, name in enumerate(classes)}
    clips = []
    for folder in folders:
        if folder.name not in index:
            raise DataError(f"class folder {folder} is not one of the classes {list(classes)}")
        for p in _visible(folder):
            if is_video(p) or p.is_dir():  # an empty frame folder is reported when it is checked
                clips.append(Clip(p, f"{folder.name}/{p.stem if p.is_file() else p.name}", index[folder.name]))
            elif p.is_file():
                log.debug(f"ignored {p}: not a video ({p.suffix})")
    if not clips:
        raise DataError(f"no clips in {split_dir}; {layout}")
    return clips, list(classes)


def read_annotations(path, root, classes=None):
    """(clips, class names) from a CSV `path,label` (header optional; label optional for an
    unlabelled split) or a whitespace-separated list (`path label` or `path num_frames label`)."""
    path, root = Path(path), Path(root)
    if not path.is_file():
        raise DataError(f"annotation file {path} not found; it lists `path,label` per clip, "
                        f"paths relative to {root}")
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path, header=None, dtype=str, skip_blank_lines=True)
        else:
            table = pd.read_csv(path, header=None, dtype=str, sep=r"\s+", skip_blank_lines=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DataError(f"annotation file {path} cannot be parsed: {e}") from e
    first = [str(v).strip().lower() for v in table.iloc[0]]
    start = 1 if first[0] == "path" else 0  # header row
    if start:
        table = table.iloc[1:]
    labelled = table.shape[1] >= 2
    labels = [str(v).strip() for v in table.iloc[:, -1]] if labelled else []
    if labelled and classes is None:
        if all(v.isdigit() for v in labels):
            classes = [str(i) for i in range(max(map(int, labels)) + 1)]
        else:  # ids from one file's names would differ between splits that lack a class: refuse
            raise DataError(f"annotation file {path} labels clips by name ({sorted(set(labels))[:5]} ...): give "
                            "data.dataset.args.classes, the class names in id order, so every split agrees")
    index = {name: i for i, name in enumerate(classes or [])}
    clips = []
    for row, rel in enumerate(table.iloc[:, 0], start=start + 1):
        rel = str(rel).strip()
        clip_path = Path(rel) if Path(rel).is_absolute() else root / rel
        where = f"annotation file {path} row {row}"
        if not clip_path.exists():
            raise DataError(f"{where}: clip {clip_path} not found")
        label = None
        if labelled:
            value = labels[row - start - 1]
            if value in index:
                label = index[value]
            elif value.isdigit() and int(value) < len(index):
                label = int(value)
            else:
                raise DataError(f"{where}: label {value!r} is not one of the classes {list(classes)}")
        clips.append(Clip(clip_path, str(Path(rel).with_suffix("")) if clip_path.is_file() else rel, label))
    if not clips:
        raise DataError(f"annotation file {path} lists no clips")
    return clips, list(classes or [])


def official_list(split):
    """Which published list a split reads where only train and test lists exist (UCF101, HMDB51): val
    reads the test list, as torchvision's and mmaction2's readers evaluate these sets."""
    return "train" if split == "train" else "test"


def keep_existing(entries, on_error, source):
    """The clips of `entries`, (Clip, where it is listed) pairs, whose file exists. A listed file that is
    missing is a DataError naming the list and line (on_error "raise"), or is left out and logged ("skip")."""
    missing = [(clip, where) for clip, where in entries if not clip.path.exists()]
    if missing:
        shown = "\n  ".join(f"{where}: {clip.path}" for clip, where in missing[:10])
        more = f"\n  ... ({len(missing)} in all)" if len(missing) > 10 else ""
        if on_error == "raise":
            raise DataError(f"{len(missing)} clip(s) listed in {source} not found:\n  {shown}{more}\ncheck the data "
                            "root and the videos folder, or set on_error: skip to leave them out")
        log.warning(f"{len(missing)} of {len(entries)} clips listed in {source} not found, left out "
                    f"(on_error: skip):\n  {shown}{more}")
    gone = {id(clip) for clip, _ in missing}
    return [clip for clip, _ in entries if id(clip) not in gone]


def read_lines(path):
    """(line number, stripped text) of the non-blank lines (the published lists end lines with CRLF)."""
    return [(n, line.strip()) for n, line in enumerate(Path(path).read_text().splitlines(), start=1) if line.strip()]


def split_numbers(folder, pattern):
    """The split numbers (the regex `pattern`'s group) of the list files in `folder`: what an error names
    when the configured split number has none."""
    found = sorted({int(m.group(1)) for p in Path(folder).iterdir() if (m := re.fullmatch(pattern, p.name))})
    return ", ".join(map(str, found)) or "none"
