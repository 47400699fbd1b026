"""UCF101 (Soomro et al., 2012) as distributed: UCF101.rar's class folders and the official splits of
UCF101TrainTestSplits-RecognitionTask.zip, both extracted into one root.

    <root>/UCF-101/<Class>/v_<Class>_g<group>_c<clip>.avi
    <root>/ucfTrainTestlist/classInd.txt        "<id> <Class>" per line, ids 1..101
    <root>/ucfTrainTestlist/trainlist0<N>.txt   "<Class>/<video>.avi <id>" per line
    <root>/ucfTrainTestlist/testlist0<N>.txt    "<Class>/<video>.avi" per line

`split_number` (1, 2 or 3) picks the lists; `train` reads trainlist0N, `val` and `test` read testlist0N
(UCF101 publishes no validation list). Class ids follow classInd.txt; a clip's class is its folder
in the list (the file names spell some classes otherwise: HandstandPushups/v_HandStandPushups_...).
"""
from pathlib import Path

from utils.builder import with_base_arguments
from utils.errors import DataError
from utils.registry import DATASETS

from .video import VideoDataset
from .video_index import Clip, keep_existing, official_list, read_lines, split_numbers

LAYOUT = """UCF101's layout (UCF101.rar and UCF101TrainTestSplits-RecognitionTask.zip extracted into one folder):
    {root}/{videos}/<Class>/v_<Class>_g<group>_c<clip>.avi
    {root}/{lists}/classInd.txt, trainlist01.txt ... testlist03.txt"""


@DATASETS.register
@with_base_arguments(VideoDataset, exclude=("annotation_file", "files"))
class UCF101Dataset(VideoDataset):
    def __init__(self, root, split="train", split_number: int = 1, videos_dir: str = "UCF-101",
                 lists_dir: str = "ucfTrainTestlist", **clip_args):
        self.split_number, self.videos_dir, self.lists_dir = split_number, videos_dir, lists_dir
        super().__init__(root, split, **clip_args)

    def list_clips(self, classes, annotation_file=None, files=None):
        videos, lists = self.root / self.videos_dir, self.root / self.lists_dir
        layout = LAYOUT.format(root=self.root, videos=self.videos_dir, lists=self.lists_dir)
        for folder in (videos, lists):
            if not folder.is_dir():
                raise DataError(f"{folder} not found; {layout}")
        official = self._class_index(lists / "classInd.txt", layout)
        kind = official_list(self.split)
        listed = lists / f"{kind}list{self.split_number:02d}.txt"
        if not listed.is_file():
            found = split_numbers(lists, rf"{kind}list(\d+)\.txt")
            raise DataError(f"split_number {self.split_number}: {listed} not found; UCF101's splits are 1, 2 and 3 "
                            f"(lists here: {found})")
        names = list(classes) if classes else official
        index = {name: i for i, name in enumerate(names)}
        entries = []
        for n, line in read_lines(listed):
            rel, *label = line.split()
            where, name = f"{listed} line {n}", rel.split("/")[0]
            if name not in index or (label and (not label[0].isdigit() or not 1 <= int(label[0]) <= len(official)
                                                or official[int(label[0]) - 1] != name)):
                raise DataError(f"{where}: {line!r} names class {name!r}" + (f" with id {label[0]}" if label else "")
                                + f", which classInd.txt does not ({len(official)} classes, ids from 1)")
            entries.append((Clip(videos / rel, str(Path(rel).with_suffix("")), index[name]), where))
        if not entries:
            raise DataError(f"{listed} lists no clips")
        return keep_existing(entries, self.on_error, listed), names

    def _class_index(self, path, layout):
        """Class names in id order from classInd.txt ("<id> <name>", ids 1..n)."""
        if not path.is_file():
            raise DataError(f"{path} not found; {layout}")
        names = []
        for n, line in read_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[0] != str(len(names) + 1):
                raise DataError(f"{path} line {n}: {line!r} is not '<id> <Class>' with id {len(names) + 1}")
            names.append(parts[1])
        return names
