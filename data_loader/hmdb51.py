"""HMDB51 (Kuehne et al., 2011) as distributed: the class folders of hmdb51_org.rar (one .rar per class,
each extracted) and the official splits of test_train_splits.rar, both in one root.

    <root>/hmdb51_org/<class>/<video>.avi
    <root>/testTrainMulti_7030_splits/<class>_test_split<N>.txt   "<video>.avi <tag>" per line:
                                                                   1 train, 2 test, 0 in neither

`split_number` (1, 2 or 3) picks the files; `train` takes the videos tagged 1, `val` and `test` those
tagged 2 (HMDB51 publishes no validation list). The classes are those with a split file, sorted.
"""
import re

from utils.builder import with_base_arguments
from utils.errors import DataError
from utils.registry import DATASETS

from .video import VideoDataset
from .video_index import Clip, keep_existing, official_list, read_lines, split_numbers

LAYOUT = """HMDB51's layout (hmdb51_org.rar's class archives and test_train_splits.rar extracted into one folder):
    {root}/{videos}/<class>/<video>.avi
    {root}/{splits}/<class>_test_split<N>.txt   lines '<video>.avi <0|1|2>'"""
TAGS = {"train": "1", "test": "2"}


@DATASETS.register
@with_base_arguments(VideoDataset, exclude=("annotation_file", "files"))
class HMDB51Dataset(VideoDataset):
    def __init__(self, root, split="train", split_number: int = 1, videos_dir: str = "hmdb51_org",
                 splits_dir: str = "testTrainMulti_7030_splits", **clip_args):
        self.split_number, self.videos_dir, self.splits_dir = split_number, videos_dir, splits_dir
        super().__init__(root, split, **clip_args)

    def list_clips(self, classes, annotation_file=None, files=None):
        videos, splits = self.root / self.videos_dir, self.root / self.splits_dir
        layout = LAYOUT.format(root=self.root, videos=self.videos_dir, splits=self.splits_dir)
        for folder in (videos, splits):
            if not folder.is_dir():
                raise DataError(f"{folder} not found; {layout}")
        suffix = f"_test_split{self.split_number}.txt"
        lists = {p.name[:-len(suffix)]: p for p in splits.iterdir() if p.name.endswith(suffix)}
        if not lists:
            found = split_numbers(splits, r".+_test_split(\d+)\.txt")
            raise DataError(f"split_number {self.split_number}: no <class>{suffix} in {splits}; HMDB51's splits are "
                            f"1, 2 and 3 (split files here: {found})")
        names = list(classes) if classes else sorted(lists)
        index = {name: i for i, name in enumerate(names)}
        tag = TAGS[official_list(self.split)]
        entries = []
        for name, path in sorted(lists.items()):
            if name not in index:
                raise DataError(f"{path} is the split file of class {name!r}, which is not one of the classes {names}")
            for n, line in read_lines(path):
                match = re.fullmatch(r"(.+?)\s+([012])", line)
                if match is None:
                    raise DataError(f"{path} line {n}: {line!r} is not '<video>.avi <0|1|2>'")
                if match.group(2) == tag:
                    video = match.group(1)
                    entries.append((Clip(videos / name / video, f"{name}/{video.rsplit('.', 1)[0]}", index[name]),
                                    f"{path.name} line {n}"))
        if not entries:
            raise DataError(f"{self.split} (tag {tag}) of split {self.split_number}: no clips listed in {splits}")
        return keep_existing(entries, self.on_error, f"{splits} (split {self.split_number})"), names
