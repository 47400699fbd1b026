"""tools/extract_frames.py: videos -> frame folders that VideoDataset reads; resumable, atomic per clip."""
import shutil

import cv2
import numpy as np
import pytest

from data_loader.video import VideoDataset
from data_loader.video_io import count_video_frames
from samples.action_clips import CLASSES
from tools.extract_frames import extract_all, main


@pytest.fixture
def videos(action_root, tmp_path):
    return shutil.copytree(action_root / "videos", tmp_path / "videos")


def test_extracted_frames_are_the_decoded_frames_in_order(videos, tmp_path):
    out = tmp_path / "frames"
    assert main([str(videos), str(out), "--no-progress", "--quality", "100"]) == 0
    clip = out / "val/walk_left/walk_left_0000"
    assert sorted(p.name for p in clip.iterdir())[:2] == ["img_00001.jpg", "img_00002.jpg"]
    from_video = VideoDataset(videos, "val", classes=list(CLASSES), clip_len=30, test_mode=True,
                              out_of_bound="repeat_last")
    from_frames = VideoDataset(out, "val", classes=list(CLASSES), clip_len=30, test_mode=True,
                               out_of_bound="repeat_last")
    assert [c.name for c in from_video.clips] == [c.name for c in from_frames.clips]
    for i in range(len(from_video)):
        assert from_video.num_frames(i) == from_frames.num_frames(i)
        a, b = from_video[i]["input"].numpy() * 255, from_frames[i]["input"].numpy() * 255
        assert np.abs(a - b).mean() < 1.5  # only JPEG's loss at quality 100


def test_a_second_run_skips_finished_clips_and_redoes_an_interrupted_one(videos, tmp_path):
    out = tmp_path / "frames"
    first = extract_all(videos, out, progress=False)
    total = len(list(videos.rglob("*.mp4"))) + len(list(videos.rglob("*.avi")))
    assert first["extracted"] == total and first["skipped"] == 0 and not first["failed"]
    # A crash mid-clip leaves only a hidden temporary folder; the clip itself is absent.
    victim = out / "train/fall/fall_0001"
    shutil.rmtree(victim)
    partial = victim.parent / ".fall_0001.partial-x1y2"
    partial.mkdir()
    (partial / "img_00001.jpg").write_bytes(b"half")
    again = extract_all(videos, out, short_side=32, progress=False)
    assert again["extracted"] == 1 and again["skipped"] == total - 1
    assert not partial.exists()
    assert len(list(victim.iterdir())) == count_video_frames(videos / "train/fall/fall_0001.avi")
    assert cv2.imread(str(victim / "img_00001.jpg")).shape[:2] == (32, 40)  # this clip took --short-side 32


def test_an_undecodable_video_is_reported_and_the_rest_extracted(videos, tmp_path, capsys):
    (videos / "test/stand/broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    out = tmp_path / "frames"
    assert main([str(videos), str(out), "--no-progress", "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "failed: cannot decode video" in err and "broken.mp4" in err
    assert not (out / "test/stand/broken").exists()
    assert len(VideoDataset(out, "test", classes=list(CLASSES))) == len(CLASSES)
