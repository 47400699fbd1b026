"""Kinetics (400 / 600 / 700) as its annotations are published, over the clips a user downloaded.

    <root>/annotations/<split>.csv    label,youtube_id,time_start,time_end,split[,is_cc]  (a test list may
                                      have no label column: its clips are unlabelled)
    <root>/<split>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4
                                      or any folders below <root>/<split> (torchvision's label folders,
                                      the crawler's, the CVDF archives' flat folder): clips are found by name

The name of a clip is made from its row, never parsed (YouTube ids hold '-' and '_'). Class ids are
the sorted labels of annotations/train.csv, so every split numbers them alike. Downloads from YouTube
always miss some clips: `on_error: skip` (the recipe's) leaves the missing ones out and logs them.
"""
import logging
import os
from pathlib import Path
from typing import Optional

import pandas as pd

from utils.builder import with_base_arguments
from utils.errors import DataError
from utils.registry import DATASETS

from .video import VideoDataset
from .video_index import Clip, keep_existing
from .video_io import VIDEO_EXTS

log = logging.getLogger("facetrain")

COLUMNS = ("youtube_id", "time_start", "time_end")
LAYOUT = """the Kinetics layout:
    {root}/{annotations}/<split>.csv   label,youtube_id,time_start,time_end,split (the published annotations)
    {root}/{videos}/[<label>/]<youtube_id>_<time_start:06d>_<time_end:06d>.mp4   the downloaded clips"""


def read_table(path, layout):
    if not path.is_file():
        raise DataError(f"annotation file {path} not found; {layout}")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"annotation file {path} cannot be parsed: {e}") from e
    absent = [c for c in COLUMNS if c not in table.columns]
    if absent:
        raise DataError(f"annotation file {path} has no column {absent} (columns: {list(table.columns)}); "
                        "Kinetics lists give label,youtube_id,time_start,time_end,split")
    return table


def index_videos(folder):
    """{file name without extension: path} of every video below `folder`."""
    found = {}
    for parent, _, names in os.walk(folder):
        for name in names:
            stem, ext = os.path.splitext(name)
            if ext.lower() in VIDEO_EXTS and not name.startswith("."):
                found[stem] = Path(parent) / name
    return found


@DATASETS.register
@with_base_arguments(VideoDataset, exclude=("annotation_file", "files"))
class KineticsDataset(VideoDataset):
    def __init__(self, root, split="train", annotations_dir: str = "annotations", videos_dir: str = "{split}",
                 class_list: Optional[str] = "train", **clip_args):
        self.annotations_dir, self.videos_dir, self.class_list = annotations_dir, videos_dir, class_list
        super().__init__(root, split, **clip_args)

    def list_clips(self, classes, annotation_file=None, files=None):
        videos = self.root / self.videos_dir.format(split=self.split)
        layout = LAYOUT.format(root=self.root, annotations=self.annotations_dir, videos=self.videos_dir)
        listed = self.root / self.annotations_dir / f"{self.split}.csv"
        table = read_table(listed, layout)
        if "split" in table.columns and self.split in set(table["split"]):
            table = table[table["split"] == self.split]  # one file may list every split
        labelled = "label" in table.columns and bool((table["label"] != "").any())  # a test list may leave it empty
        names = list(classes) if classes else self._classes(table, listed, layout) if labelled else []
        index = {name: i for i, name in enumerate(names)}
        if not videos.is_dir():
            raise DataError(f"clip folder {videos} not found; {layout}")
        found = index_videos(videos)
        entries = []
        for row, values in zip(table.index, table.to_dict("records")):
            where = f"{listed.name} line {row + 2}"
            try:
                start, end = int(float(values["time_start"])), int(float(values["time_end"]))
            except ValueError:
                raise DataError(f"{listed} line {row + 2}: time_start/time_end {values['time_start']!r}, "
                                f"{values['time_end']!r} are not numbers") from None
            stem = f"{values['youtube_id']}_{start:06d}_{end:06d}"
            label = values["label"] if labelled else None
            if labelled and label not in index:
                raise DataError(f"{listed} line {row + 2}: label {label!r} is not one of the {len(names)} classes "
                                f"({self.class_list}.csv's labels, or data.dataset.args.classes)")
            clip = Clip(found.get(stem, videos / f"{stem}.mp4"), f"{label}/{stem}" if labelled else stem,
                        index[label] if labelled else None)
            entries.append((clip, where))
        if not entries:
            raise DataError(f"annotation file {listed} lists no clips")
        return keep_existing(entries, self.on_error, listed), names

    def _classes(self, table, listed, layout):
        """The sorted labels of the class list's split (train.csv), else of this file."""
        source = self.root / self.annotations_dir / f"{self.class_list}.csv" if self.class_list else listed
        if not source.is_file():
            raise DataError(f"{source} not found: the class list is its sorted labels, so that every split numbers "
                            "the classes alike; give data.dataset.args.classes (or class_list: null: this file's)")
        labels = table["label"] if source == listed else read_table(source, layout).get("label")
        if labels is None:
            raise DataError(f"{source} has no label column to take the class list from; give "
                            "data.dataset.args.classes")
        names = sorted(set(labels) - {""})
        log.info(f"{self.split}: {len(names)} classes from {source}")
        return names
