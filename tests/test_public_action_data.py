"""UCF101, HMDB51 and Kinetics read as published (miniatures of their layouts, tests/public_layouts.py): the
official split lists and their split numbers, class ids from the published class lists, clips found by the
names the lists give; each recipe trains on its miniature; bad lists are named errors before training."""
import shutil

import pytest

from conftest import REPO
from data_loader.hmdb51 import HMDB51Dataset
from data_loader.kinetics import KineticsDataset
from data_loader.ucf101 import UCF101Dataset
from public_layouts import HMDB_CLASSES, KINETICS_CLASSES, UCF_CLASSES, UCF_GROUPS
from trainer import run_training
from utils.builder import build
from utils.config import apply_overrides, load_config
from utils.errors import ConfigError, DataError
from utils.registry import DATASETS

# Sizes only: 4 frames of 32x32 (the recipes' 16 frames of 112x112 are for the real videos).
TINY_CLIPS = [
    "data.dataset.args.clip_len=4", "data.train.transform.0.args.max_size=36",
    "data.train.transform.1.args.size=[32,32]", "data.val.transform.0.args.max_size=36",
    "data.val.transform.1.args.height=32", "data.val.transform.1.args.width=32"]


def clip_names(ds):
    return sorted(c.name for c in ds.clips)


@pytest.mark.parametrize("split_number", [1, 2, 3])
def test_ucf101_reads_the_official_lists_of_each_split(ucf101_root, split_number):
    train, test = (UCF101Dataset(ucf101_root, s, split_number=split_number) for s in ("train", "test"))
    assert train.classes == test.classes == list(UCF_CLASSES)  # classInd.txt order
    group = f"_g{UCF_GROUPS[split_number - 1]:02d}_"
    assert all(group in n for n in clip_names(test)) and not any(group in n for n in clip_names(train))
    assert len(train) + len(test) == len(UCF_CLASSES) * len(UCF_GROUPS) * 2
    assert clip_names(UCF101Dataset(ucf101_root, "val", split_number=split_number)) == clip_names(test)
    quirk = next(c for c in test.clips if c.name.startswith("HandstandPushups/"))  # the folder names the class
    assert "v_HandStandPushups_" in quirk.path.name and test.classes[quirk.label] == "HandstandPushups"


def test_hmdb51_reads_the_tags_of_the_per_class_split_files(hmdb51_root):
    train, test = (HMDB51Dataset(hmdb51_root, s, split_number=2) for s in ("train", "test"))
    assert train.classes == test.classes == sorted(HMDB_CLASSES)
    assert [c.name for c in test.clips if c.name.startswith("cartwheel/")] == [
        "cartwheel/#1_cartwheel_(take_0)_f_nm_np1_fr_med_0"]  # split 2 tags the first video 2 (test)
    assert len(train) == 3 * len(HMDB_CLASSES) and len(test) == len(HMDB_CLASSES)  # tag 0: in neither


def test_kinetics_finds_the_clips_its_csv_names_in_label_folders_or_flat(kinetics_root):
    train, val, test = (KineticsDataset(kinetics_root, s) for s in ("train", "val", "test"))
    assert train.classes == val.classes == sorted(KINETICS_CLASSES)
    assert {c.path.parent.name for c in train.clips} == {"abseiling", "massaging_persons_head",
                                                         "passing_American_football_in_game"}
    assert {c.path.parent for c in val.clips} == {kinetics_root / "val"}
    assert all(train.classes[c.label] == c.name.split("/")[0] for c in train.clips + val.clips)
    assert not test.labelled and len(test) == len(KINETICS_CLASSES)  # the test CSV has no label column


@pytest.mark.parametrize("config,fixture,split_number", [
    ("action_ucf101_r2plus1d.json", "ucf101_root", 2), ("action_hmdb51_r2plus1d.json", "hmdb51_root", 3),
    ("action_kinetics_r2plus1d.json", "kinetics_root", None)])
def test_each_recipe_trains_on_its_published_layout(config, fixture, split_number, request, tmp_path, one_thread):
    root = request.getfixturevalue(fixture)
    chosen = [f"data.dataset.args.split_number={split_number}"] if split_number else []
    cfg = apply_overrides(load_config(REPO / "configs" / config), [
        f"data.dataset.args.root={root}", *chosen, *TINY_CLIPS, f"trainer.save_dir={tmp_path}", "device=cpu",
        "trainer.epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "data.loader.batch_size=2",
        "data.loader.num_workers=0",
        "trainer.progress=none", "trainer.tensorboard=false", "trainer.report=false"])
    trainer, summary = run_training(cfg)
    assert summary["last_epoch"] == 1 and "val/acc" in trainer.last_log
    assert trainer.config["data"]["dataset"]["args"]["classes"] == trainer.train_loader.dataset.classes


def _write(path, text):
    path.write_bytes(text.encode())


BAD = {
    "ucf101: a list names a missing video": (
        "ucf101", UCF101Dataset, {}, lambda r: (r / "UCF-101/WalkingWithDog/v_WalkingWithDog_g08_c02.avi").unlink(),
        r"1 clip\(s\) listed in .*trainlist01\.txt not found:\n  .*trainlist01\.txt line \d+: "
        r".*v_WalkingWithDog_g08_c02\.avi"),
    "ucf101: a split number that does not exist": (
        "ucf101", UCF101Dataset, {"split_number": 4}, None,
        r"split_number 4: .*trainlist04\.txt not found; UCF101's splits are 1, 2 and 3 \(lists here: 1, 2, 3\)"),
    "ucf101: a class that classInd.txt lacks": (
        "ucf101", UCF101Dataset, {}, lambda r: _write(r / "ucfTrainTestlist/classInd.txt", "1 ApplyEyeMakeup\r\n"
                                                                                            "2 HandstandPushups\r\n"),
        r"trainlist01\.txt line \d+: .*names class 'WalkingWithDog' with id 3, which classInd\.txt does not"),
    "ucf101: a malformed classInd.txt": (
        "ucf101", UCF101Dataset, {}, lambda r: _write(r / "ucfTrainTestlist/classInd.txt", "1 A\r\n3 B\r\n"),
        r"classInd\.txt line 2: '3 B' is not '<id> <Class>' with id 2"),
    "hmdb51: a split file names a missing video": (
        "hmdb51", HMDB51Dataset, {}, lambda r: (r / "hmdb51_org/walk/#2_walk_(take_1)_f_nm_np1_fr_med_1.avi").unlink(),
        r"not found:\n  walk_test_split1\.txt line 2: .*#2_walk_\(take_1\)_f_nm_np1_fr_med_1\.avi"),
    "hmdb51: a split number that does not exist": (
        "hmdb51", HMDB51Dataset, {"split_number": 5}, None,
        r"split_number 5: no <class>_test_split5\.txt in .*HMDB51's splits are 1, 2 and 3 "
        r"\(split files here: 1, 2, 3\)"),
    "hmdb51: a tag that is not 0, 1 or 2": (
        "hmdb51", HMDB51Dataset, {},
        lambda r: _write(r / "testTrainMulti_7030_splits/walk_test_split1.txt", "x.avi 3 \n"),
        r"walk_test_split1\.txt line 1: 'x\.avi 3' is not '<video>\.avi <0\|1\|2>'"),
    "kinetics: a clip never downloaded (on_error raise)": (
        "kinetics", KineticsDataset, {"split": "val"}, lambda r: next((r / "val").glob("-1x_*")).unlink(),
        r"listed in .*val\.csv not found:\n  val\.csv line 3: .*/val/-1x_va0-Ab_000003_000013\.mp4"),
    "kinetics: a label that train.csv lacks": (
        "kinetics", KineticsDataset, {"split": "val"},
        lambda r: _write(r / "annotations/val.csv",
                         "label,youtube_id,time_start,time_end,split\nyodeling,abc,1,11,val\n"),
        r"val\.csv line 2: label 'yodeling' is not one of the 3 classes \(train\.csv's labels"),
    "kinetics: a CSV without the published columns": (
        "kinetics", KineticsDataset, {}, lambda r: _write(r / "annotations/train.csv", "path,label\na.mp4,x\n"),
        r"train\.csv has no column \['youtube_id', 'time_start', 'time_end'\]"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_lists_are_named_before_training(case, public_layouts, tmp_path):
    layout, dataset, args, damage, message = BAD[case]
    root = shutil.copytree(public_layouts(layout), tmp_path / layout)
    if damage:
        damage(root)
    with pytest.raises(DataError, match=message):
        dataset(root, **{"split": "train", **args})


def test_a_missing_kinetics_clip_is_left_out_and_logged_by_the_recipe(kinetics_root, tmp_path, caplog):
    root = shutil.copytree(kinetics_root, tmp_path / "kinetics")
    next((root / "val").glob("-1x_*")).unlink()
    ds = KineticsDataset(root, "val", on_error="skip")  # as action_kinetics_r2plus1d.json reads
    assert len(ds) == len(KINETICS_CLASSES) - 1 and "1 of 3 clips listed in" in caplog.text


def test_a_public_dataset_takes_the_video_datasets_arguments_by_name(ucf101_root):
    with pytest.raises(ConfigError, match=r"data\.dataset\.args\.clip_lenn: unknown argument for UCF101Dataset; "
                                          r"accepted: .*'clip_len'.*'split_number'"):
        build(DATASETS, {"type": "UCF101Dataset", "args": {"root": str(ucf101_root), "clip_lenn": 8}}, "data.dataset")
    with pytest.raises(ConfigError, match=r"data\.dataset\.args\.layout: expected one of \['CTHW', 'TCHW'\]"):
        build(DATASETS, {"type": "UCF101Dataset", "args": {"root": str(ucf101_root), "layout": "THWC"}}, "data.dataset")
