"""The face-mask data as it really is laid out: labels, person splits, folds, label fixes, eval order, bad input."""
import hashlib
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from data_loader.mask_faces import MaskFaceDataset
from samples.mask_faces import generate_mask_dataset
from utils.errors import DataError

STEM_MASK = {"mask1": 0, "mask2": 0, "mask3": 0, "mask4": 0, "mask5": 0, "incorrect_mask": 1, "normal": 2}


@pytest.fixture
def root(mask_root, tmp_path):
    """A private copy the test may damage."""
    return shutil.copytree(mask_root, tmp_path / "mask_faces")


@pytest.fixture
def logs(caplog, monkeypatch):
    """Records of the project's logger (which does not propagate once a run has set it up)."""
    monkeypatch.setattr(logging.getLogger("facetrain"), "propagate", True)
    caplog.set_level(logging.INFO, logger="facetrain")
    return caplog


def csv_truth(root):
    return pd.read_csv(root / "train/train.csv", dtype=str).set_index("path")


def test_every_photo_is_one_sample_labelled_from_its_file_name_and_train_csv(mask_root):
    ds = MaskFaceDataset(mask_root, "all", age_bins=[30, 58])
    csv = csv_truth(mask_root)
    assert len(ds) == 7 * len(csv)  # junk files (._mask1.jpg, .DS_Store) are neither samples nor errors
    assert any(i.endswith("-1") for i in csv["id"]) and csv["id"].duplicated().any()  # ids as the real data has
    folder, name = zip(*(i.split("/") for i in ds.image_ids))
    stems = [n.rsplit(".", 1)[0] for n in name]
    ages = csv.loc[list(folder), "age"].astype(int).to_numpy()
    assert ds.labels("mask").tolist() == [STEM_MASK[s] for s in stems]
    assert ds.labels("gender").tolist() == (csv.loc[list(folder), "gender"] == "female").astype(int).tolist()
    assert ds.labels("age").tolist() == ((ages >= 30).astype(int) + (ages >= 58)).tolist()
    assert np.array_equal(ds.labels("class"), ds.labels("mask") * 6 + ds.labels("gender") * 3 + ds.labels("age"))
    suffixes = {p.suffix for p in ds.paths}
    assert {".jpg", ".jpeg", ".png"} <= suffixes  # mixed extensions are read alike


def test_a_sample_is_an_image_tensor_with_the_chosen_target(mask_root):
    heads = MaskFaceDataset(mask_root, "val")
    sample = heads[3]
    assert sample["input"].shape == (3, 512, 384) and sample["input"].dtype == torch.float32
    assert set(sample["target"]) == {"mask", "gender", "age"}
    t = {k: int(v) for k, v in sample["target"].items()}
    as_class = MaskFaceDataset(mask_root, "val", target="class")[3]["target"]
    assert int(as_class) == t["mask"] * 6 + t["gender"] * 3 + t["age"]
    assert int(MaskFaceDataset(mask_root, "val", target="age")[3]["target"]) == t["age"]
    assert sample["meta"]["image_id"] == heads.image_ids[3] and sample["meta"]["source"].endswith("train.csv")


def test_train_and_val_split_by_person_stratified_over_gender_and_age(mask_root):
    train = MaskFaceDataset(mask_root, "train", val_fraction=0.25)
    val = MaskFaceDataset(mask_root, "val", val_fraction=0.25)
    assert not set(train.persons) & set(val.persons)
    csv = csv_truth(mask_root)
    assert set(train.persons) | set(val.persons) == set(csv.index)
    stratum = (csv["gender"] == "female").astype(int) * 3 + np.digitize(csv["age"].astype(int), [30, 60])
    for s, people in stratum.groupby(stratum).groups.items():
        held = len(set(people) & set(val.persons))
        assert abs(held - 0.25 * len(people)) <= 1, f"stratum {s}: {held} of {len(people)} persons in val"
    again = MaskFaceDataset(mask_root, "val", val_fraction=0.25, label_fix="label_fix.csv", age_bins=[30, 57])
    assert again.persons == val.persons  # label fixes and age bins never move people between splits


def test_k_folds_are_saved_grouped_by_person_and_selected_by_fold(root):
    vals = [set(MaskFaceDataset(root, "val", fold=k, n_folds=3).persons) for k in range(3)]
    folds_file = root / "train/folds_k3_seed0.csv"
    saved = pd.read_csv(folds_file, dtype=str)
    assert sorted(saved["path"]) == sorted(csv_truth(root).index)
    assert [set(saved.loc[saved["fold"] == str(k), "path"]) for k in range(3)] == vals
    train1 = MaskFaceDataset(root, "train", fold=1, n_folds=3)
    assert set(train1.persons) == vals[0] | vals[2]
    # The file is the source of truth: moving a person moves it in every later run.
    person = sorted(vals[0])[0]
    saved.loc[saved["path"] == person, "fold"] = "2"
    saved.to_csv(folds_file, index=False)
    assert person in MaskFaceDataset(root, "val", fold=2, n_folds=3).persons
    with pytest.raises(ValueError, match="fold must be in 0..2"):
        MaskFaceDataset(root, "val", fold=3, n_folds=3)


def test_label_fixes_correct_gender_age_and_swapped_photos(mask_root, tmp_path):
    fixes = pd.read_csv(mask_root / "label_fix.csv", dtype=str, keep_default_na=False)
    plain = MaskFaceDataset(mask_root, "all")
    fixed = MaskFaceDataset(mask_root, "all", label_fix=str(mask_root / "label_fix.csv"))
    by_image = dict(zip(fixed.image_ids, range(len(fixed))))
    for fix in fixes.to_dict("records"):
        rows = [by_image[i] for i in fixed.image_ids if i.startswith(fix["path"] + "/")]
        if fix["gender"]:
            assert set(fixed.labels("gender")[rows]) == {int(fix["gender"] == "female")}
            assert set(plain.labels("gender")[rows]) == {int(fix["gender"] != "female")}
        if fix["age"]:
            assert set(fixed.labels("age")[rows]) == {int(np.digitize(int(fix["age"]), [30, 60]))}
        if fix["swap"]:
            masks = {fixed.image_ids[r].split("/")[1].split(".")[0]: int(fixed.labels("mask")[r]) for r in rows}
            assert masks["incorrect_mask"] == 2 and masks["normal"] == 1
    repeated = csv_truth(mask_root)["id"].value_counts().idxmax()
    (tmp_path / "fix.csv").write_text(f"id,gender\n{repeated},male\n")
    with pytest.raises(DataError, match=rf"fix.csv line 2: id '{repeated}' belongs to 2 people .* add a 'path' column"):
        MaskFaceDataset(mask_root, "all", label_fix=str(tmp_path / "fix.csv"))


def test_eval_split_follows_info_csv_order_without_labels(mask_root):
    ds = MaskFaceDataset(mask_root, "eval")
    info = pd.read_csv(mask_root / "eval/info.csv", dtype=str)
    assert ds.image_ids == info["ImageID"].tolist() and ds.rows == list(range(len(info)))
    sample = ds[5]
    assert "target" not in sample and sample["meta"]["image_id"] == info["ImageID"][5]


def test_problems_are_named_with_file_and_line_or_skipped_and_counted(root, logs):
    csv = pd.read_csv(root / "train/train.csv", dtype=str)
    gone, short = csv["path"][2], csv["path"][5]
    shutil.rmtree(root / "train/images" / gone)
    next((root / "train/images" / short).glob("mask4.*")).unlink()
    with pytest.raises(DataError) as err:
        MaskFaceDataset(root, "all")
    message = str(err.value)
    assert "2 problem(s)" in message
    assert f"train.csv line 4 (id '{csv['id'][2]}'): folder {root / 'train/images' / gone} not found" in message
    assert f"train.csv line 7 (id '{csv['id'][5]}'): {root / 'train/images' / short} has no mask4" in message
    skipped = MaskFaceDataset(root, "all", on_error="skip")
    assert len(skipped) == 7 * len(csv) - 7 - 1
    assert "skipped 2 problem(s)" in logs.text


def test_a_corrupt_photo_is_named_before_training_and_when_read(root):
    victim = next((root / "train/images").glob("*/normal.*"))
    victim.write_bytes(b"not an image at all")
    line = pd.read_csv(root / "train/train.csv", dtype=str)["path"].tolist().index(victim.parent.name) + 2
    with pytest.raises(DataError, match=rf"line {line} .*cannot read image .*{victim.name}"):
        MaskFaceDataset(root, "all")
    unchecked = MaskFaceDataset(root, "all", check_images=False)
    index = unchecked.paths.index(victim)
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(unchecked, [index]), num_workers=1)
    with pytest.raises(DataError, match=rf"cannot read image .*{victim.name} \(.*train.csv line {line}\)"):
        next(iter(loader))  # raised in a worker, re-raised here with the file and line


def test_bad_rows_duplicates_and_missing_eval_files(root):
    csv = pd.read_csv(root / "train/train.csv", dtype=str)
    csv.loc[1, "gender"] = "unknown"
    csv.to_csv(root / "train/train.csv", index=False)
    folder = root / "train/images" / csv["path"][3]
    first = next(folder.glob("mask1.*"))
    shutil.copy(first, folder / ("mask1.png" if first.suffix != ".png" else "mask1.jpg"))
    with pytest.raises(DataError) as err:
        MaskFaceDataset(root, "all")
    assert "line 3 (id" in str(err.value) and "gender 'unknown' is not male or female" in str(err.value)
    assert f"{folder} has both" in str(err.value)
    info = pd.read_csv(root / "eval/info.csv", dtype=str)
    (root / "eval/images" / info["ImageID"][4]).unlink()
    with pytest.raises(DataError, match=rf"info.csv line 6 \(ImageID '{info['ImageID'][4]}'\): no file"):
        MaskFaceDataset(root, "eval")
    assert len(MaskFaceDataset(root, "eval", on_error="skip")) == len(info) - 1


def test_a_missing_root_describes_the_layout(tmp_path):
    with pytest.raises(DataError, match=r"(?s)does not exist.*train/train.csv.*eval/info.csv"):
        MaskFaceDataset(tmp_path / "nowhere")


def _digest(root):
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return [(str(p.relative_to(root)), hashlib.md5(p.read_bytes()).hexdigest()) for p in files]


def test_the_generator_is_deterministic_atomic_and_refuses_to_overwrite(tmp_path):
    a = generate_mask_dataset(tmp_path / "a", n_train=8, n_eval=1, seed=3, size=(96, 128))
    b = generate_mask_dataset(tmp_path / "b", n_train=8, n_eval=1, seed=3, size=(96, 128))
    assert _digest(a) == _digest(b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]  # no temp dir left behind
    assert any(p.name == "._mask1.jpg" for p in a.rglob("*")) and (a / "train/images/.DS_Store").exists()
    with pytest.raises(FileExistsError):
        generate_mask_dataset(a)
