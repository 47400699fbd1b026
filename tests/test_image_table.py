"""Any labelled image set (ImageTableDataset): class order, the two layouts, group-aware splits and
folds, binning, unlabelled splits, bad input, and the labels samplers and losses read."""
import logging

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from data_loader.image_table import ImageTableDataset
from data_loader.sample_weights import ClassBalanced
from model.losses.multi_head import MultiHeadLoss
from samples.face_crops import generate_face_crops
from utils.errors import ConfigError, DataError

HEADS = ["gender", "age"]
AGES = {"age": [0, 30, 60]}


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    """The real face-crop sample set, generated into a temporary folder."""
    return generate_face_crops(tmp_path_factory.mktemp("data") / "face_crops")


def write_table(root, rows, columns=("path", "gender", "age", "person", "split"), images=True):
    """A CSV at root/labels.csv with `rows`; each row's image is written (8x8 PNG) unless images=False."""
    (root / "img").mkdir(parents=True, exist_ok=True)
    for row in rows:
        if images and row[0]:
            cv2.imwrite(str(root / row[0]), np.full((8, 8, 3), len(row[0]) * 9 % 256, np.uint8))
    pd.DataFrame(rows, columns=list(columns)).to_csv(root / "labels.csv", index=False)
    return root


def people(n=20, splits=("train",)):
    """n persons with 3 photos each: gender alternates, ages 5..95; split cycles over `splits`."""
    rows = []
    for p in range(n):
        for k in range(3):
            rows.append((f"img/p{p:02d}_{k}.png", ["female", "male"][p % 2], str(5 + (p * 9) % 91), f"p{p:02d}",
                         splits[p % len(splits)]))
    return rows


def dataset(root, split="train", **args):
    args = {"csv": "labels.csv", "target": HEADS, "bins": AGES, "group": "person", **args}
    return ImageTableDataset(str(root), split, **args)


def test_class_order_is_stable_across_splits_and_runs(tmp_path):
    # Numbers sort numerically (2 before 10); names sort as text; the test split sees only some classes.
    rows = [("img/a.png", "zebra", "10", "train"), ("img/b.png", "ant", "2", "train"),
            ("img/c.png", "moth", "7", "test"), ("img/d.png", "moth", "7", "train"),
            ("img/e.png", "ant", "10", "val")]
    write_table(tmp_path, rows, columns=("path", "kind", "size", "split"))
    sets = [ImageTableDataset(str(tmp_path), s, csv="labels.csv", target=["kind", "size"]) for s in ("train", "val",
                                                                                                     "test")]
    write_table(tmp_path / "reversed", rows[::-1], columns=("path", "kind", "size", "split"))
    again = ImageTableDataset(str(tmp_path / "reversed"), "test", csv="labels.csv", target=["kind", "size"])
    for d in sets + [again]:
        assert d.head_classes == {"kind": ["ant", "moth", "zebra"], "size": ["2", "7", "10"]}
    assert sets[2].labels("kind").tolist() == [1] and sets[2].labels("size").tolist() == [1]
    # A class list in the config fixes the order; whole numbers are ids into it.
    given = ImageTableDataset(str(tmp_path), "train", csv="labels.csv", target="kind",
                              classes=["zebra", "moth", "ant"])
    assert given.classes == ["zebra", "moth", "ant"] and given.labels().tolist() == [0, 2, 1]
    rows = [("img/a.png", "1"), ("img/b.png", "0"), ("img/c.png", "male")]
    write_table(tmp_path, rows, columns=("path", "gender"))
    ids = ImageTableDataset(str(tmp_path), "all", csv="labels.csv", target="gender", classes=["male", "female"])
    assert ids.labels().tolist() == [1, 0, 0]


def test_imagefolder_and_csv_give_the_same_labels(crops):
    folder = ImageTableDataset(str(crops / "folder"), "all")
    table = ImageTableDataset(str(crops), "all", csv="labels.csv", target="content")
    assert folder.classes == table.classes == ["background", "face"]
    assert len(folder) == len(table) == 800  # the junk files ._crop000_0.png and .DS_Store are not images
    by_name = dict(zip((p.split("/")[-1] for p in table.paths), table.labels()))
    assert [by_name[p.split("/")[-1]] for p in folder.paths] == folder.labels().tolist()
    # The sample's splits keep each crop (its group) in one split, in both forms.
    groups = {s: {p.split("/")[-1][:7] for p in ImageTableDataset(str(crops / "folder"), s).paths}
              for s in ("train", "val", "test")}
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"])


def test_binned_heads_and_sample_targets(crops):
    bins = {"angle": {"edges": [-45, 45, 135, 225], "names": ["up", "left", "down", "right"]}}
    d = ImageTableDataset(str(crops), "test", csv="labels.csv", target=["content", "angle"], bins=bins, group="crop")
    csv = pd.read_csv(crops / "labels.csv").set_index("path")
    expected = np.digitize(csv.loc[d.paths, "angle"], [45, 135, 225])  # np.digitize as the reference
    assert d.labels("angle").tolist() == expected.tolist()
    assert d.head_classes["angle"] == ["up", "left", "down", "right"]
    sample = d[3]
    assert set(sample["target"]) == {"content", "angle"} and sample["target"]["angle"].dtype == torch.long
    assert sample["meta"]["group"] == csv.loc[d.paths[3], "crop"] and sample["input"].shape == (3, 25, 25)
    assert d.class_counts("angle").tolist() == np.bincount(expected, minlength=4).tolist()
    # Default names say the ranges; the joint label (key None) numbers head combinations.
    ages = dataset(write_table(crops.parent / "ages", people()), "all")
    assert ages.head_classes["age"] == ["0-30", "30-60", "60+"]
    assert ages.labels().tolist() == (ages.labels("gender") * 3 + ages.labels("age")).tolist()
    assert ages.num_classes() == 6


def test_group_holdout_and_folds_never_share_a_group(tmp_path):
    root = write_table(tmp_path, people(30))
    train, val = dataset(root, "train"), dataset(root, "val")
    assert not set(train.groups) & set(val.groups)
    assert sorted(train.paths + val.paths) == sorted(r[0] for r in people(30))
    assert len(set(val.groups)) == 6  # 20% of the 30 persons, whole
    held = []
    for k in range(3):
        tr, va = dataset(root, "train", fold=k, n_folds=3), dataset(root, "val", fold=k, n_folds=3)
        assert not set(tr.groups) & set(va.groups) and len(tr) + len(va) == 90
        assert set(va.labels("gender")) == {0, 1}  # stratified over the first head
        held.append(set(va.groups))
    assert set.union(*held) == {f"p{p:02d}" for p in range(30)} and sum(map(len, held)) == 30
    # The folds file is written once and read back: editing it moves a person.
    folds = tmp_path / "labels_folds_by_group_k3_seed0.csv"
    table = pd.read_csv(folds)
    moved = table["group"][table["fold"] == 0].iloc[0]
    table.loc[table["group"] == moved, "fold"] = 1
    table.to_csv(folds, index=False)
    assert moved in dataset(root, "val", fold=1, n_folds=3).groups


def test_unlabelled_split(tmp_path):
    write_table(tmp_path, [("img/a.png",), ("img/b.png",)], columns=("path",))
    d = ImageTableDataset(str(tmp_path), "all", csv="labels.csv", target=HEADS,
                          heads={"gender": ["female", "male"], "age": ["young", "old"]})
    assert "target" not in d[0] and d.head_classes["age"] == ["young", "old"]
    with pytest.raises(DataError, match="no labels to name the classes"):
        ImageTableDataset(str(tmp_path), "all", csv="labels.csv", target="gender")
    with pytest.raises(DataError, match="no labels in column"):
        ImageTableDataset(str(tmp_path), "train", csv="labels.csv", target="gender", classes=["female", "male"])
    # An ImageFolder split of loose images is unlabelled; its classes are the other splits' folders.
    for path in ("folder/train/owl/a.png", "folder/train/cat/b.png", "folder/test/c.png"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / path), np.zeros((8, 8, 3), np.uint8))
    loose = ImageTableDataset(str(tmp_path / "folder"), "test")
    assert loose.classes == ["cat", "owl"] and loose.paths == ["test/c.png"] and "target" not in loose[0]


def bad_rows(tmp_path):
    """people(6) over train/test with one of each problem; returns (root, rows, {problem: line})."""
    rows = people(6, splits=("train", "test"))  # persons alternate train / test
    rows[1] = ("img/missing.png", *rows[1][1:])
    rows[2] = (rows[2][0], "", *rows[2][2:])
    rows[3] = (rows[3][0], "robot", *rows[3][2:])
    rows[5] = ("img/cut.jpg", *rows[5][1:])
    rows[7] = (*rows[7][:3], "p01", "train")  # p01's other photos are in test
    rows[9] = rows[8]  # listed twice
    root = write_table(tmp_path, rows)
    (root / rows[1][0]).unlink()
    (root / rows[4][0]).write_bytes(b"not an image")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    (root / rows[5][0]).write_bytes(cv2.imencode(".jpg", noise)[1].tobytes()[:-300])
    return root, rows, {"no image": 3, "empty label": 4, "'robot' is not one of the classes": 5,
                        "not an image|cannot read": 6, "truncated JPEG": 7, "group 'p01' is in split": 9,
                        "listed twice": 11}


def test_bad_input_is_named_or_skipped_and_counted(tmp_path, caplog):
    root, rows, problems = bad_rows(tmp_path)
    genders = {"gender": ["female", "male"]}
    with pytest.raises(DataError) as e:
        dataset(root, "all", heads=genders)
    message = str(e.value)
    for what, line in problems.items():
        assert any(f"labels.csv line {line}" in m and any(w in m for w in what.split("|"))
                   for m in message.splitlines()), (what, message)
    with caplog.at_level(logging.WARNING, logger="facetrain"):
        every = dataset(root, "all", heads=genders, on_error="skip")
    assert "skipped 7 problem(s)" in caplog.text
    assert every.paths == [rows[i][0] for i in (0, 6, 8, *range(10, 18))]


def test_config_mistakes_are_named(tmp_path):
    root = write_table(tmp_path, people(4))
    with pytest.raises(ConfigError, match="bins.age"):
        dataset(root, bins={"age": [60, 30]})
    with pytest.raises(ConfigError, match="2 names for the 3 bins"):
        dataset(root, heads={"age": ["young", "old"]})
    with pytest.raises(DataError, match="column 'age'.*below the first bin edge"):
        dataset(root, bins={"age": [18, 60]})
    with pytest.raises(DataError, match=r"missing column\(s\) \['person_id'\]"):
        dataset(root, group="person_id")
    with pytest.raises(ConfigError, match="no split column"):
        dataset(write_table(tmp_path / "nosplit", [r[:4] for r in people(4)], columns=("path", *HEADS, "person")),
                "test")


def test_balanced_sampler_and_auto_class_weights(tmp_path):
    rows = people(20)
    rows += [(f"img/x{i}.png", "male", "70", f"x{i}", "train") for i in range(12)]  # many old men
    d = dataset(write_table(tmp_path, rows), "all")
    counts = pd.Series(d.labels("age")).value_counts().sort_index().to_numpy()
    assert d.class_counts("age").tolist() == counts.tolist()
    weights = np.asarray(ClassBalanced(d, key="age"))
    assert np.allclose([weights[d.labels("age") == c].sum() for c in range(3)], 1.0)  # each class drawn alike
    loss = MultiHeadLoss({"age": {"type": "CrossEntropy", "args": {"weight": "auto"}}})
    loss.prepare(d)
    expected = len(d) / (3 * counts)  # scikit-learn's class_weight="balanced"
    assert np.allclose(loss.terms["age"].weight.numpy(), expected)


def folder(root, paths):
    """An ImageFolder: an 8x8 image at each of `paths` under root."""
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / path), np.zeros((8, 8, 3), np.uint8))
    return root


@pytest.mark.parametrize("cell,message", [
    ("owl", r"labels.csv: column 'label': class\(es\) 'owl' \(split 'test', line 6\) have no training images"),
    ("Cat", r"'Cat' \(split 'test', line 6\), 'cat' but for case have no training images"),
])
def test_a_class_without_training_images_is_named(tmp_path, cell, message):
    rows = [(f"img/{i}.png", ["cat", "dog"][i % 2], "train") for i in range(4)] + [("img/t.png", cell, "test")]
    root = write_table(tmp_path, rows, columns=("path", "label", "split"))
    with pytest.raises(DataError, match=message + r" \(training counts"):
        ImageTableDataset(str(root), "train", csv="labels.csv")  # the split that trains
    assert ImageTableDataset(str(root), "test", csv="labels.csv").labels().tolist() == [0 if cell == "Cat" else 2]


def test_a_nan_cell_is_a_missing_label_not_a_class(tmp_path):
    rows = [(f"img/{i}.png", ["cat", "dog"][i % 2], "train") for i in range(4)] + [("img/v.png", "NaN", "val")]
    root = write_table(tmp_path, rows, columns=("path", "label", "split"))
    assert ImageTableDataset(str(root), "train", csv="labels.csv").classes == ["cat", "dog"]
    with pytest.raises(DataError, match=r"labels.csv line 6: column 'label': missing label \('NaN'\)"):
        ImageTableDataset(str(root), "val", csv="labels.csv")


def test_a_test_only_class_folder_stops_training_before_it_starts(tmp_path, capsys):
    import json

    import train
    from conftest import REPO
    from utils.config import load_config

    root = folder(tmp_path / "faces", [f"{s}/{c}/{i}.png" for s in ("train", "test") for c in ("cat", "dog")
                                       for i in range(3)] + ["test/bird/0.png"])
    cfg = load_config(REPO / "configs/image_folder_quick.json")
    cfg["data"]["dataset"]["args"]["root"], cfg["trainer"]["save_dir"] = str(root), str(tmp_path / "saved")
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    assert train.main(["--config", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err
    assert "'bird' (split 'test', " in err and "test/bird/0.png" in err and "no training images" in err
    assert "Traceback" not in err and not (tmp_path / "saved").exists()


@pytest.mark.parametrize("layout", ["csv", "folder"])
def test_a_split_other_than_train_val_test_is_named_not_dropped(tmp_path, layout):
    if layout == "csv":
        rows = [(f"img/{i}.png", ["cat", "dog"][i % 2], ["train", "valid"][i // 4]) for i in range(8)]
        root, args = write_table(tmp_path, rows, columns=("path", "label", "split")), {"csv": "labels.csv"}
    else:
        root, args = folder(tmp_path, [f"{s}/{c}/0.png" for s in ("train", "valid") for c in ("cat", "dog")]), {}
    for split in ("train", "val"):
        with pytest.raises(DataError, match=r"\{'valid': \d\}.*in neither training nor validation.*'valid' -> 'val'"):
            ImageTableDataset(str(root), split, **args)
    assert len(ImageTableDataset(str(root), "valid", **args)) > 0  # asked for by name, it is read


def test_a_flat_imagefolder_is_told_where_its_class_folders_go(tmp_path):
    root = folder(tmp_path, ["cat/0.png", "dog/0.png"])
    with pytest.raises(DataError, match=r"class folders \['cat', 'dog'\] but no split folders.*move them into "):
        ImageTableDataset(str(root), "train")


def test_an_empty_group_is_named_once(tmp_path):
    rows = people(4, splits=("train", "test"))
    rows[1] = (*rows[1][:3], "", "train")
    with pytest.raises(DataError) as e:
        dataset(write_table(tmp_path, rows), "all", heads={"gender": ["female", "male"]})
    assert "labels.csv line 3: empty group" in str(e.value) and "nan" not in str(e.value)


def test_bins_names_that_do_not_fit_name_the_bins_key(tmp_path):
    with pytest.raises(ConfigError, match=r"data.dataset.args.bins.age.names: 2 names for the 3 bins"):
        dataset(write_table(tmp_path, people(4)), bins={"age": {"edges": [0, 30, 60], "names": ["young", "old"]}})


def test_angle_bins_with_a_period_wrap_around(tmp_path):
    angles = [350, -50, 10, 100, 200, 300, 44.9, 315]
    rows = [(f"img/{i}.png", str(a), "train") for i, a in enumerate(angles)]
    root = write_table(tmp_path, rows, columns=("path", "angle", "split"))
    edges = [-45, 45, 135, 225]
    d = ImageTableDataset(str(root), "all", csv="labels.csv", target="angle",
                          bins={"angle": {"edges": edges, "period": 360}})
    assert d.labels().tolist() == [int((a + 45) % 360 // 90) for a in angles]  # the quarter the angle points in
    assert d.classes == ["-45 to 45", "45 to 135", "135 to 225", "225 to 315"]
    with pytest.raises(DataError, match=r"-50 is below the first bin edge -45: the edges must cover the data .*period"):
        ImageTableDataset(str(root), "all", csv="labels.csv", target="angle", bins={"angle": edges})
