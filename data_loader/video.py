"""Action recognition from clips: video files, frame folders or an annotation file.

    "dataset": {"type": "VideoDataset", "args": {"root": "data/samples/action/videos", "split": "train",
                "clip_len": 16, "frame_interval": 2, "num_clips": 1, "layout": "CTHW"}}

Each sample is `num_clips` clips of `clip_len` frames (data_loader/clip_sampling.py: random
in training, uniform and deterministic otherwise). The configured albumentations transform
is applied with one set of parameters to every frame of the sample.

`layout` "CTHW" is for 3D models: one clip is (C, T, H, W). "TCHW" is for 2D models: all
sampled frames as (T, C, H, W), scored by the model frame by frame and averaged (TSN; one
frame per clip when clip_len = num_clips = 1). Evaluation views - several clips ("CTHW") and
`crops` spatial crops - are stacked in front, (V, ...), and averaged by the MultiView inferer.
"""
import logging
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch

from base import BaseDataset
from samples import generate_sample, is_sample_root
from utils.errors import DataError
from utils.registry import DATASETS, takes_classes

from .clip_sampling import SampleFrames
from .collate import same_size_collate
from .folds import fold_part
from .video_index import LAYOUT, Clip, read_annotations, scan_split
from .video_io import check_frame_sizes, count_video_frames, list_frame_files, read_frame_files, read_video_frames

log = logging.getLogger("facetrain")


@DATASETS.register
@takes_classes(classes="names")
class VideoDataset(BaseDataset):
    """`verify` "open" checks each clip at start-up (a video opens and its first frame decodes,
    a frame folder holds images); "full" also decodes every video and reads every frame
    header (mixed frame sizes). `on_error` "skip" leaves out the clips failing that check and
    logs each one; "raise" stops at the first with an error naming the file. `files` lists the
    clips directly (unlabelled; `root` and `split` then only name them in messages). `fold` (of `n_folds`,
    seeded by `split_seed`): the train and val clips pooled, that fold (class-stratified) is val."""

    family = "action"  # what the application asks of it: families/action.py

    def __init__(self, root: str, split: str = "train", transform=None, annotation_file: Optional[str] = None,
                 classes: Optional[list] = None, clip_len: int = 16, frame_interval: int = 1, num_clips: int = 1,
                 out_of_bound: Literal["loop", "repeat_last"] = "loop", test_mode: Optional[bool] = None,
                 layout: Literal["CTHW", "TCHW"] = "CTHW", crops: int = 1, crop_size: Optional[int] = None,
                 backend: Literal["pyav", "opencv"] = "pyav", verify: Literal["open", "full"] = "open",
                 on_error: Literal["raise", "skip"] = "raise", files: Optional[list] = None,
                 fold: Optional[int] = None, n_folds: int = 5, split_seed: int = 0):
        super().__init__(transform)
        self.root, self.split, self.layout, self.backend = Path(root), split, layout, backend
        self.test_mode = split != "train" if test_mode is None else test_mode
        self.sampler = SampleFrames(clip_len, frame_interval, num_clips, out_of_bound)
        if crops < 1 or (crop_size is not None and crop_size < 1):
            raise ValueError(f"crops and crop_size must be >= 1, got {crops} and {crop_size}")
        self.crops, self.crop_size, self.on_error = crops, crop_size, on_error
        views = crops * (num_clips if layout == "CTHW" else 1)
        if views > 1 and not self.test_mode:
            raise ValueError(f"{views} views per video (num_clips x crops) are for evaluation, where the "
                             "MultiView inferer averages them; train with num_clips 1 and crops 1 (layout "
                             "TCHW takes num_clips frames for TSN)")
        clips, self.classes = self.list_clips(classes, annotation_file, files)
        if fold is not None and files is None and split in ("train", "val"):
            clips = self._fold(annotation_file, fold, n_folds, split_seed)
        self.clips, self.frames, self.skipped = [], [], []
        for clip in clips:
            try:
                self.frames.append(self._probe(clip, verify == "full"))
                self.clips.append(clip)
            except DataError as e:
                if on_error == "raise":
                    raise
                self.skipped.append((str(clip.path), str(e)))
        if self.skipped:
            log.warning(f"{split}: skipped {len(self.skipped)} of {len(clips)} clips that cannot be read:\n"
                        + "\n".join(f"  {reason}" for _, reason in self.skipped))
        if not self.clips:
            raise DataError(f"{split}: no readable clip under {self.root}")
        self.labelled = all(c.label is not None for c in self.clips)

    def list_clips(self, classes, annotation_file=None, files=None):
        """(clips, class names) of this split. A published layout's dataset overrides this with the
        reading of its own lists; everything after (checks, sampling, views) is shared."""
        if files is not None:  # given clips (video files or frame folders), unlabelled: e.g. one upload
            return [Clip(Path(f), Path(f).stem, None) for f in files], list(classes or [])
        if (annotation := self._ensure_root(annotation_file)) is not None:
            return read_annotations(annotation, self.root, classes)
        return scan_split(self.root, self.split, classes)

    def _fold(self, annotation_file, fold, n_folds, seed):
        """This split's part of the train and val clips pooled (in that order; a clip both list counts once)."""
        split, pool = self.split, {}
        for part in ("train", "val"):  # what each split lists: its folder, list or annotation file
            self.split = part
            for clip in self.list_clips(self.classes, annotation_file)[0]:
                pool.setdefault(str(clip.path), clip)
        self.split, pool = split, list(pool.values())
        if any(c.label is None for c in pool):
            raise DataError("k-fold needs labelled clips; the train or val split has unlabelled ones")
        return fold_part(pool, split, fold, n_folds, seed, labels=[c.label for c in pool], what="clips")

    def _ensure_root(self, annotation_file):
        """The sample data is generated on first use; any other missing root is an error."""
        annotation = None
        if annotation_file is not None:
            annotation = Path(annotation_file)
            if not annotation.is_absolute() and not annotation.exists():
                annotation = self.root / annotation
        base = next((p for p in (self.root, self.root.parent) if is_sample_root(p, "action")), None)
        needed = annotation if annotation is not None else self.root
        if base is not None and not needed.exists():
            generate_sample(base, "action")  # the stick figures or the real-photo footage
        if not self.root.exists():
            raise DataError(f"data root {self.root} does not exist; " + LAYOUT.format(root=self.root, split=self.split))
        return annotation

    def _probe(self, clip, full):
        """Frame files of a frame folder, or the frame count of a video."""
        if clip.is_video:
            if full:
                n = count_video_frames(clip.path, self.backend)
                return len(read_video_frames(clip.path, range(n), self.backend))
            return count_video_frames(clip.path, self.backend)
        if not clip.path.is_dir():
            raise DataError(f"{clip.path} is neither a video file nor a frame folder")
        files = list_frame_files(clip.path)
        if full:
            check_frame_sizes(files)
        return files

    def __len__(self):
        return len(self.clips)

    def num_frames(self, index):
        frames = self.frames[index]
        return frames if isinstance(frames, int) else len(frames)

    def get(self, index):
        clip = self.clips[index]
        inds = self.sampler(self.num_frames(index), rng=self.rng, test_mode=self.test_mode)  # (clips, len)
        if clip.is_video:
            frames = read_video_frames(clip.path, inds.ravel(), self.backend)
        else:
            frames = read_frame_files([self.frames[index][i] for i in inds.ravel()])
        x = self._transform(frames)  # (clips * len, C, H, W)
        x = self._crop(x)  # (crops, clips * len, C, h, w)
        if self.layout == "CTHW":
            n_clips, length = inds.shape
            x = x.unflatten(1, (n_clips, length)).permute(0, 1, 3, 2, 4, 5).flatten(0, 1)  # (views, C, T, h, w)
        if x.shape[0] == 1:
            x = x[0]
        sample = {"input": x, "meta": {"name": clip.name, "path": str(clip.path),
                                       "num_frames": self.num_frames(index)}}
        if clip.label is not None:
            sample["target"] = torch.tensor(clip.label, dtype=torch.long)
        return sample

    def _transform(self, frames):
        """One set of augmentation parameters for all frames: albumentations' `images` target."""
        if self.transform is not None:
            frames = self.transform(images=frames)["images"]
        if isinstance(frames, torch.Tensor):  # ToTensorV2 gives (T, C, H, W)
            x = frames
        else:  # (T, H, W, C) arrays
            x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        if x.dtype == torch.uint8:  # no Normalize in the pipeline
            x = x.float() / 255.0
        return x.contiguous()

    def _crop(self, x):
        """`crops` crops of `crop_size` (default: the short side) spread along the long side."""
        if self.crops == 1 and self.crop_size is None:
            return x[None]
        h, w = x.shape[-2:]
        size = min(self.crop_size or min(h, w), h, w)
        along_w = w >= h
        span = (w if along_w else h) - size
        starts = np.linspace(0, span, self.crops).round().astype(int) if self.crops > 1 else [span // 2]
        other = ((h if along_w else w) - size) // 2
        views = [x[..., other:other + size, s:s + size] if along_w else x[..., s:s + size, other:other + size]
                 for s in starts]
        return torch.stack(views)

    def labels(self, key=None):
        """Class ids per clip (None in an unlabelled split); `key` is accepted for the shared interface
        of ClassBalanced and "auto" class weights, a clip having one label."""
        if key not in (None, "class"):
            raise ValueError(f"key: a video dataset has one label per clip (key null or 'class'), got {key!r}")
        return [c.label for c in self.clips]

    def class_counts(self, key=None):
        return np.bincount(np.asarray(self.labels(key)), minlength=len(self.classes))

    @staticmethod
    def collate_fn(batch):
        return same_size_collate(batch, "name", "clips")
