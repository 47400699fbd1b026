"""The real-footage action sample set: camera motion over real photographs, in the video, frame-folder
and annotation layouts VideoDataset reads, generated on first use; each class moves as its name says."""
import functools

import cv2
import numpy as np
import pytest

import samples.action_footage as footage
from data_loader.video import VideoDataset
from data_loader.video_io import read_video_frames
from samples.action_footage import CLASSES, SIZE


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """The sample location, generated through the dataset on first use (2 train / 1 val / 1 test clips per class)."""
    cwd = tmp_path_factory.mktemp("cwd")
    small = functools.partial(footage.generate_action_footage, n_train=2, n_val=1, n_test=1, progress=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        mp.setattr(footage, "generate_action_footage", small)
        VideoDataset("data/samples/action_footage/videos", "val")
    return cwd / "data/samples/action_footage"


def test_the_sample_location_is_generated_on_first_use_in_every_layout(root):
    by_layout = {
        "videos": VideoDataset(root / "videos", "train"),
        "frames": VideoDataset(root / "frames", "train"),
        "annotations": VideoDataset(root, "train", annotation_file="annotations/train.csv", classes=list(CLASSES)),
    }
    for ds in by_layout.values():
        assert sorted(ds.classes) == sorted(CLASSES) and len(ds) == 2 * len(CLASSES)
    assert {p.suffix for p in (root / "videos").rglob("*.*")} == {".mp4", ".avi"}
    frames = read_video_frames(by_layout["videos"].clips[0].path, range(3), "pyav")
    assert frames.shape[1:] == (SIZE, SIZE, 3)


def motion(a, b):
    """(dx, dy) of the scene from frame a to b: the similarity transform fitted to tracked corners
    (OpenCV's Lucas-Kanade flow + RANSAC), as the shift of the frame centre."""
    ga, gb = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (a, b))
    p = cv2.goodFeaturesToTrack(ga, 200, 0.01, 4)
    q, found, _ = cv2.calcOpticalFlowPyrLK(ga, gb, p, None)
    m, _ = cv2.estimateAffinePartial2D(p[found == 1], q[found == 1])
    return m @ [SIZE / 2, SIZE / 2, 1] - SIZE / 2


@pytest.mark.parametrize("label", CLASSES)
def test_each_class_moves_as_its_name_says(root, label):
    scene = {"pan_left": (1, 0), "pan_right": (-1, 0), "tilt_up": (0, 1), "tilt_down": (0, -1)}[label]
    for clip in sorted((root / "videos" / "train" / label).iterdir()):
        frames = read_video_frames(clip, range(14), "pyav")
        shift = np.median([motion(frames[t], frames[t + 2]) for t in range(0, 12, 3)], axis=0)
        along, across = shift @ scene, abs(shift @ scene[::-1])  # the scene slides one way, not across
        assert along > 2 and across < 1, (clip.name, shift)
