"""The action sample generator: the same seed writes the same files, another seed other clips, and an
interrupted run leaves nothing behind (layouts appear whole, by rename, or not at all)."""
import filecmp

import pytest

from samples import action_clips
from samples.action_clips import CLASSES, LAYOUTS, generate_action_dataset


def small(root, seed=3):
    return generate_action_dataset(root, n_train=1, n_val=1, n_test=0, seed=seed, progress=False)


def files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def clips(root):
    """Every clip (a video file, a frame folder) and annotation file; frame counts vary with the seed."""
    return sorted({n.rsplit("/", 1)[0] if n.startswith("frames/") else n for n in files(root)})


def same_files(a, b):
    names = files(a)
    return names == files(b) and all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def test_the_same_seed_writes_identical_files_and_another_seed_other_clips(tmp_path):
    a, b, c = small(tmp_path / "a"), small(tmp_path / "b"), small(tmp_path / "c", seed=4)
    names = files(a)
    assert sum(n.startswith("videos/") for n in names) == 2 * len(CLASSES)
    assert {n.split("/")[0] for n in names} == set(LAYOUTS)
    assert same_files(a, b)
    assert clips(c) == clips(a)
    clip = "frames/train/fall/fall_0000/frame_1.jpg"
    assert not filecmp.cmp(a / clip, c / clip, shallow=False)


def test_an_interrupted_generation_leaves_nothing_and_a_rerun_completes(tmp_path, monkeypatch):
    original, calls = action_clips.write_frames, []

    def crash_on_the_fourth_clip(folder, frames):
        calls.append(folder)
        if len(calls) == 4:
            raise KeyboardInterrupt
        original(folder, frames)

    monkeypatch.setattr(action_clips, "write_frames", crash_on_the_fourth_clip)
    with pytest.raises(KeyboardInterrupt):
        small(tmp_path / "action")
    assert list(tmp_path.iterdir()) == []  # neither the root nor a temporary folder
    monkeypatch.setattr(action_clips, "write_frames", original)
    assert same_files(small(tmp_path / "action"), small(tmp_path / "reference"))


def test_a_missing_layout_is_regenerated_and_the_present_ones_are_kept(tmp_path):
    root = small(tmp_path / "action")
    reference = small(tmp_path / "reference")
    video = root / "videos/val/stand/stand_0000.mp4"
    video.write_bytes(b"edited by the user")
    for p in sorted((root / "frames").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (root / "frames").rmdir()
    small(root)
    assert video.read_bytes() == b"edited by the user"  # an existing layout is never overwritten
    assert files(root / "frames") == files(reference / "frames")
    assert all(filecmp.cmp(root / "frames" / n, reference / "frames" / n, shallow=False)
               for n in files(reference / "frames"))
