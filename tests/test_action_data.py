"""VideoDataset on the three forms (video files, frame folders, an annotation CSV): the frames
it reads are the generated ones in order, transforms are shared by the frames of a clip,
views are laid out for 3D and 2D models, and bad files give errors that name them."""
import logging
import shutil

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO
from data_loader.transforms import build_transform
from data_loader.video import VideoDataset
from samples import action_clips
from samples.action_clips import CLASSES, render_clip
from utils.builder import build
from utils.errors import ConfigError, DataError
from utils.registry import DATASETS


@pytest.fixture
def root(action_root, tmp_path):
    """A private copy the test may damage."""
    return shutil.copytree(action_root, tmp_path / "action")


def reference(label, index=0, split=0, seed=1):
    """The frames the generator rendered for a clip, from the same per-clip seed."""
    rng = np.random.default_rng([seed, split, CLASSES.index(label), index])
    return render_clip(rng, label, int(rng.integers(20, 25))).astype(np.float32)


def whole_clip(root, name, num_frames, **args):
    """(T, H, W, 3) 0..255 of every frame of one clip, read through the dataset."""
    ds = VideoDataset(root, "train", classes=list(CLASSES), clip_len=num_frames, test_mode=True, **args)
    i = [c.name for c in ds.clips].index(name)
    return ds[i]["input"].permute(1, 2, 3, 0).numpy() * 255, ds, i


def test_videos_frame_folders_and_the_csv_list_the_same_labelled_clips(action_root):
    videos = VideoDataset(action_root / "videos", "train", classes=list(CLASSES))
    frames = VideoDataset(action_root / "frames", "train", classes=list(CLASSES))
    table = VideoDataset(action_root, "train", annotation_file="annotations/train.csv", classes=list(CLASSES))
    names = [c.name for c in videos.clips]
    assert names == [c.name for c in frames.clips] and len(names) == 2 * len(CLASSES)
    assert sorted(c.name for c in table.clips) == sorted(f"videos/train/{n}" for n in names)
    for ds in (videos, frames, table):
        assert all(c.label == CLASSES.index(c.name.split("/")[-2]) for c in ds.clips)
    assert [videos.num_frames(i) for i in range(len(names))] == [frames.num_frames(i) for i in range(len(names))]
    assert {".mp4", ".avi"} == {c.path.suffix for c in videos.clips}


@pytest.mark.parametrize("form,backend", [("videos", "pyav"), ("videos", "opencv"), ("frames", "pyav")])
def test_the_frames_read_are_the_generated_frames_in_order(action_root, form, backend):
    blur = lambda clip: np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in clip])  # noqa: E731 - drop pixel noise
    for label, index in (("walk_right", 0), ("walk_left", 1)):  # an .mp4 and an .avi; the figure moves every frame
        ref = reference(label, index)
        got, ds, i = whole_clip(action_root / form, f"{label}/{label}_{index:04d}", len(ref), backend=backend)
        assert ds.num_frames(i) == len(ref)
        assert np.abs(got - ref).mean(axis=(1, 2, 3)).max() < 6  # lossy (MPEG-4, JPEG), but the same pictures
        error = np.abs(blur(got)[:, None] - blur(ref)[None]).mean(axis=(2, 3, 4))  # read frame t vs generated s
        assert (error.argmin(axis=1) == np.arange(len(ref))).all()  # each frame is closest to itself: in order
        if form == "frames":  # frame_10.jpg comes after frame_9.jpg, not after frame_1.jpg
            assert [p.name for p in ds.frames[i]] == [f"frame_{n}.jpg" for n in range(1, len(ref) + 1)]


def test_one_random_transform_is_applied_to_every_frame_of_a_clip(action_root, tmp_path):
    clip = tmp_path / "same" / "train" / "fall" / "c0"
    clip.mkdir(parents=True)
    for n in range(1, 7):  # six identical frames: after the transform they must stay identical
        shutil.copy(action_root / "frames/train/fall/fall_0000/frame_1.jpg", clip / f"{n}.jpg")
    transform = build_transform([
        {"type": "RandomResizedCrop", "args": {"size": [32, 40], "scale": [0.2, 1.0]}},
        {"type": "HorizontalFlip", "args": {"p": 0.5}},
        {"type": "ColorJitter", "args": {"brightness": 0.4, "contrast": 0.4, "hue": 0.1, "p": 1.0}},
        {"type": "ToTensorV2"}], "transform")
    ds = VideoDataset(tmp_path / "same", "train", transform=transform, clip_len=6)
    outputs = [ds[(0, seed)]["input"] for seed in range(8)]
    for x in outputs:
        assert x.shape == (3, 6, 32, 40)
        assert all(torch.equal(x[:, 0], x[:, t]) for t in range(6))
    assert len({x[:, 0].sum().item() for x in outputs}) == 8  # yet each sample is augmented differently
    assert torch.equal(ds[(0, 3)]["input"], outputs[3])  # reproducible from the sample seed


def test_layouts_for_3d_and_2d_models_and_evaluation_views(action_root):
    root = action_root / "videos"
    clip = VideoDataset(root, "train", clip_len=4, frame_interval=2)[(0, 0)]
    assert clip["input"].shape == (3, 4, 64, 80) and clip["input"].dtype == torch.float32
    assert clip["target"].dtype == torch.long and clip["meta"]["name"].startswith("appear/")

    frames = VideoDataset(root, "val", clip_len=1, num_clips=3, layout="TCHW")  # TSN: 3 segment centres
    n = frames.num_frames(0)
    centres = [int((k + 0.5) * n / 3) for k in range(3)]
    direct = VideoDataset(root, "val", clip_len=n, test_mode=True)[0]["input"]  # every frame, (C, T, H, W)
    assert torch.equal(frames[0]["input"], direct[:, centres].permute(1, 0, 2, 3))

    clips = VideoDataset(root, "val", clip_len=4, num_clips=2)[0]["input"]  # (2 clips, C, T, H, W)
    views = VideoDataset(root, "val", clip_len=4, num_clips=2, crops=3)[0]["input"]
    assert clips.shape == (2, 3, 4, 64, 80) and views.shape == (6, 3, 4, 64, 64)
    for crop, x0 in enumerate((0, 8, 16)):  # three 64x64 crops along the 80-pixel width, crop-major
        for k in range(2):
            assert torch.equal(views[crop * 2 + k], clips[k][..., x0:x0 + 64])


def test_several_views_in_training_are_refused_with_the_config_path(action_root):
    with pytest.raises(ConfigError, match=r"data.train.dataset: .*6 views per video .* are for evaluation"):
        build(DATASETS, {"type": "VideoDataset", "args": {"root": str(action_root / "videos"), "num_clips": 2,
                                                          "crops": 3}}, "data.train.dataset", transform=None)


def test_an_empty_or_undecodable_video_is_named(root):
    empty = root / "videos/train/fall/empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"video .*empty\.mp4 is empty"):
        VideoDataset(root / "videos", "train")
    empty.unlink()
    garbage = root / "videos/train/stand/garbage.avi"
    garbage.write_bytes(b"RIFF not really a video " * 50)
    for backend in ("pyav", "opencv"):
        with pytest.raises(DataError, match=r"cannot decode video .*garbage\.avi"):
            VideoDataset(root / "videos", "train", backend=backend)


def test_a_frame_folder_without_images_is_named(root):
    (root / "frames/val/appear/no_frames").mkdir()
    (root / "frames/val/appear/no_frames/notes.txt").write_text("extraction failed")
    with pytest.raises(DataError, match=r"frame folder .*no_frames has no images"):
        VideoDataset(root / "frames", "val")


def test_frames_of_mixed_sizes_are_named(root):
    clip = root / "frames/test/walk_left/walk_left_0000"
    cv2.imwrite(str(clip / "frame_3.jpg"), np.zeros((32, 40, 3), np.uint8))
    with pytest.raises(DataError, match=r"frame .*frame_3\.jpg is 40x32 but frame_1\.jpg .* is 80x64"):
        VideoDataset(root / "frames", "test", verify="full")
    ds = VideoDataset(root / "frames", "test", clip_len=30)  # the quick check opens no frame: found when read
    i = [c.name for c in ds.clips].index("walk_left/walk_left_0000")
    with pytest.raises(DataError, match=r"frame_3\.jpg: frame of size 40x32 in a clip whose first frame is 80x64"):
        ds[i]


def test_unreadable_clips_can_be_skipped_and_reported(root, caplog):
    (root / "frames/train/fall/fall_0000/frame_2.jpg").write_bytes(b"not a jpeg")
    shutil.rmtree(root / "frames/train/stand/stand_0001")
    (root / "frames/train/stand/stand_0001").mkdir()
    caplog.set_level(logging.WARNING, logger="facetrain")
    ds = VideoDataset(root / "frames", "train", on_error="skip", verify="full")
    assert len(ds) == 2 * len(CLASSES) - 2
    assert sorted(p.split("/")[-1] for p, _ in ds.skipped) == ["fall_0000", "stand_0001"]
    message = caplog.records[-1].getMessage()
    assert "skipped 2 of 10 clips" in message and "frame_2.jpg" in message and "stand_0001 has no images" in message


def test_a_missing_root_describes_the_layouts(tmp_path):
    with pytest.raises(DataError, match=r"does not exist; expected layout .*\n.*<class>/<clip>\.mp4"):
        VideoDataset(tmp_path / "nowhere", "train")


def test_the_sample_data_is_generated_on_first_use(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    original = action_clips.generate_action_dataset
    monkeypatch.setattr(action_clips, "generate_action_dataset",
                        lambda root: original(root, n_train=1, n_val=1, n_test=1, progress=False))
    caplog.set_level(logging.INFO, logger="facetrain")
    ds = VideoDataset("data/samples/action/frames", "val")
    assert len(ds) == len(CLASSES) and (tmp_path / "data/samples/action/videos/val").is_dir()
    assert any("generating it at data/samples/action" in r.getMessage() for r in caplog.records)


def test_an_unlabelled_split_has_no_target(action_root, tmp_path):
    flat = tmp_path / "unlabelled" / "test"
    flat.mkdir(parents=True)
    for video in sorted((action_root / "videos/test").rglob("*.mp4"))[:3]:
        shutil.copy(video, flat / video.name)
    shutil.copytree(action_root / "frames/test/fall/fall_0000", flat / "cam7_0001")
    ds = VideoDataset(tmp_path / "unlabelled", "test", clip_len=4)
    assert len(ds) == 4 and "cam7_0001" in [c.name for c in ds.clips]
    assert all("target" not in ds[i] for i in range(len(ds)))
    (tmp_path / "list.csv").write_text("path\n" + "\n".join(f"test/{c.name}{c.path.suffix}" for c in ds.clips[:3]))
    listed = VideoDataset(tmp_path / "unlabelled", "test", annotation_file=str(tmp_path / "list.csv"), clip_len=4)
    assert len(listed) == 3 and "target" not in listed[0]


def test_annotation_file_errors_name_the_row(action_root, tmp_path):
    bad_label = tmp_path / "bad_label.csv"
    bad_label.write_text("path,label\nvideos/val/fall/fall_0000.mp4,fall\nvideos/val/stand/stand_0000.mp4,jump\n")
    with pytest.raises(DataError, match=r"bad_label\.csv row 3: label 'jump' is not one of the classes"):
        VideoDataset(action_root, "val", annotation_file=str(bad_label), classes=list(CLASSES))
    missing = tmp_path / "missing.txt"  # mmaction-style: path label, whitespace-separated, no header
    missing.write_text("videos/val/fall/fall_0000.mp4 0\nvideos/val/fall/fall_9999.mp4 0\n")
    with pytest.raises(DataError, match=r"missing\.txt row 2: clip .*fall_9999\.mp4 not found"):
        VideoDataset(action_root, "val", annotation_file=str(missing))
    # Names without `classes`: ids sorted from one file would differ in a split lacking a class.
    names = tmp_path / "names.csv"
    names.write_text("path,label\nvideos/val/stand/stand_0000.mp4,stand\n")
    with pytest.raises(DataError, match=r"names\.csv labels clips by name .* give data\.dataset\.args\.classes"):
        VideoDataset(action_root, "val", annotation_file=str(names))


def test_class_balanced_sampling_and_auto_class_weights_work_on_clips(action_root):
    from data_loader.sample_weights import ClassBalanced
    from model.losses.classification import CrossEntropy

    ds = VideoDataset(action_root / "videos", "train", clip_len=2, classes=list(CLASSES))
    ds.clips = ds.clips[:-1]  # one class one clip short: the weights must follow the counts
    counts = np.bincount([c.label for c in ds.clips], minlength=len(CLASSES))
    assert ds.class_counts().tolist() == counts.tolist()
    weights = np.asarray(ClassBalanced(ds))
    assert np.allclose(weights, 1.0 / counts[[c.label for c in ds.clips]])
    loss = CrossEntropy(weight="auto")
    loss.prepare(ds)
    assert torch.allclose(loss.weight, torch.tensor(counts.sum() / (len(CLASSES) * counts), dtype=loss.weight.dtype))


def test_clips_of_different_sizes_in_a_batch_are_reported(action_root):
    ds = VideoDataset(action_root / "videos", "val", clip_len=2)
    a, b = ds[0], ds[1]
    b["input"] = b["input"][..., :40]
    with pytest.raises(DataError, match="clips of different sizes in one batch .* give the transform a fixed output"):
        ds.collate_fn([a, b])


def test_class_names_of_metrics_and_writers_must_be_the_datasets_classes(action_root):
    from trainer.classes import resolve_classes
    from utils.config import load_config

    cfg = load_config(REPO / "configs/action_r3d18.json")
    ds = VideoDataset(action_root / "videos", "test", clip_len=2, classes=list(CLASSES))
    resolve_classes(cfg, ds)  # the shipped recipe agrees with itself
    swapped = [CLASSES[1], CLASSES[0], *CLASSES[2:]]
    cfg["test"]["writers"][0].setdefault("args", {})["class_names"] = swapped
    message = r"test\.writers\.0\.args\.class_names: .* differs from the dataset's classes"
    with pytest.raises(ConfigError, match=message):
        resolve_classes(cfg, ds)
