"""tools/find_label_errors.py on out-of-fold predictions: injected errors are found well above chance
and the fix file the dataset reads restores them; clip and segmentation errors; clear errors."""
import json
import os

import cv2
import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from data_loader.mask_faces import MaskFaceDataset
from data_loader.video_index import read_annotations
from samples.action_clips import CLASSES
from samples.mask_faces import generate_mask_dataset
from tools import find_label_errors, kfold, label_noise
from utils.config import apply_overrides, load_config

pytestmark = pytest.mark.usefixtures("one_thread")
K = 2  # errors of each kind


@pytest.fixture(scope="module")
def mask_run(tmp_path_factory):
    """64 persons (half-size photos), K gender flips and K persons with mask1 and normal exchanged; 2-fold
    out-of-fold predictions of the quick recipe with a tiny backbone on 64x48 inputs (no label_fix)."""
    tmp = tmp_path_factory.mktemp("label_errors")
    clean = generate_mask_dataset(tmp / "clean", n_train=64, n_eval=1, seed=3, size=(192, 256), mislabels=False)
    truth = label_noise.inject_mask(clean, tmp / "noisy", K, seed=0, swap=("mask1", "normal"))
    cfg = load_config(REPO / "configs/mask_multihead_quick.json")
    for split, flip in (("train", [{"type": "HorizontalFlip", "args": {"p": 0.5}}]), ("val", [])):
        cfg["data"][split]["transform"] = [{"type": "CenterCrop", "args": {"height": 200, "width": 160}},
                                           {"type": "Resize", "args": {"height": 64, "width": 48}}, *flip,
                                           {"type": "Normalize"}, {"type": "ToTensorV2"}]
    cfg = apply_overrides(cfg, [
        f"data.dataset.args.root={tmp / 'noisy'}", "data.dataset.args.label_fix=null",
        f"data.dataset.args.folds_file={tmp / 'folds.csv'}", f"trainer.save_dir={tmp / 'saved'}", "device=cpu",
        "model.args.backbone=test_resnet", "data.loader.num_workers=0", "inference.args.views=[identity]",
        "trainer.epochs=8", "optimizer.args.lr=0.004", "trainer.progress=none", "trainer.tensorboard=false",
        "trainer.report=false", "trainer.train_metrics=false", "trainer.save_top_k=0"])
    kfold.run_kfold(cfg, out_dir=tmp / "kfold", n_folds=2)
    assert find_label_errors.main([str(tmp / "kfold")]) == 0
    return tmp, clean, truth


def test_injected_person_errors_are_found_well_above_chance(mask_run):
    tmp, _, truth = mask_run
    persons = pd.read_csv(tmp / "kfold/label_errors/persons.csv")
    assert set(persons["head"]) == {"mask", "gender", "age"} and len(persons) == 3 * 64
    # Chance finds n * K / 64 of a head's K errors in its top n persons: 0.125 for n = 2K, 0.3 for 10.
    gender = label_noise.score(persons, truth, n=2 * K, head="gender")
    assert gender["found"] == K, gender
    mask = label_noise.score(persons, truth, n=10, head="mask")
    assert mask["found"] >= K / 2, mask
    photos = pd.read_csv(tmp / "kfold/label_errors/issues.csv")
    assert len(photos) == 3 * 64 * 7 and photos["quality"].between(0, 1).all()
    mask_photos = label_noise.score(photos, truth, n=24, head="mask")  # chance: 24 * 2K / 448 = 0.2 of 2K photos
    assert mask_photos["found"] >= K, mask_photos


def test_the_fix_file_is_read_by_the_dataset_and_restores_what_it_found(mask_run):
    tmp, clean, truth = mask_run
    fix_path = tmp / "kfold/label_errors/label_fix.csv"
    fixes = pd.read_csv(fix_path, dtype=str, keep_default_na=False)
    assert list(fixes.columns) == ["path", "gender", "age", "swap", "note"]
    noisy = MaskFaceDataset(tmp / "noisy", "all")
    fixed = MaskFaceDataset(tmp / "noisy", "all", label_fix=str(fix_path))
    right = MaskFaceDataset(clean, "all")

    def labels(d, person):
        return [(i.split("/")[1], int(d.labels_["mask"][j]), int(d.labels_["gender"][j]))
                for j, i in enumerate(d.image_ids) if d.persons[j] == person]

    injected = set(pd.read_csv(truth).query("source == 'injected' and level == 'person'")["key"])
    restored = [p for p in fixes["path"] if p in injected and labels(fixed, p) == labels(right, p) != labels(noisy, p)]
    assert len(restored) >= K, (fixes, injected)  # the flips found come back exactly right


def test_the_review_grid_shows_the_top_persons(mask_run):
    tmp, _, _ = mask_run
    grid = cv2.imread(str(tmp / "kfold/label_errors/review.png"))
    assert grid is not None and grid.shape[0] > 400 and grid.shape[1] > 800


def clip_oof(action_root, tmp, flips):
    """oof_predictions.csv as tools/kfold.py writes it for clips, from a confident, right model, with the
    given labels of the `flips` clips changed; returns (clips, classes, given labels, probabilities)."""
    clips, classes = read_annotations(action_root / "annotations/train.csv", action_root, CLASSES)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(classes)) * 0.5, len(clips)) * 0.3
    probs[np.arange(len(clips)), [c.label for c in clips]] += 0.7
    given = [c.label for c in clips]
    for i in flips:
        given[i] = (given[i] + 1) % len(classes)
    table = pd.DataFrame({"clip": [c.name for c in clips], "path": [str(c.path) for c in clips],
                          "label": [classes[g] for g in given], "prediction": [classes[p] for p in probs.argmax(1)],
                          "confidence": probs.max(1)})
    for k, name in enumerate(classes):
        table[f"prob_{name}"] = probs[:, k]
    (tmp / "kfold").mkdir()
    table.to_csv(tmp / "kfold/oof_predictions.csv", index=False)
    cfg = {"data": {"dataset": {"type": "VideoDataset", "args": {"root": str(action_root), "classes": classes}}}}
    (tmp / "kfold/config.json").write_text(json.dumps(cfg))
    return clips, classes, given, probs


def test_clip_ranking_is_cleanlabs_and_the_fixed_annotations_load(action_root, tmp_path):
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    flips = [1, 6]
    clips, classes, given, probs = clip_oof(action_root, tmp_path, flips)
    assert find_label_errors.main([str(tmp_path / "kfold"), "--review", "4"]) == 0
    issues = pd.read_csv(tmp_path / "kfold/label_errors/issues.csv")
    quality = get_label_quality_scores(np.array(given), probs, method="self_confidence")
    flagged = find_label_issues(np.array(given), probs)
    by_clip = {c.name: (q, f) for c, q, f in zip(clips, quality, flagged)}
    assert np.allclose(issues["quality"], [by_clip[c][0] for c in issues["sample"]], atol=1e-6)
    assert list(issues["issue"]) == [bool(by_clip[c][1]) for c in issues["sample"]]
    assert set(issues["sample"][:2]) == {clips[i].name for i in flips}  # the relabelled clips first
    fixed, _ = read_annotations(tmp_path / "kfold/label_errors/annotations_fixed.csv", action_root, classes)
    label = {str(c.path): c.label for c in fixed}
    assert [label[str(c.path)] for c in clips] == [c.label for c in clips]  # the true labels again
    assert cv2.imread(str(tmp_path / "kfold/label_errors/review.png")) is not None


def test_segmentation_masks_with_injected_errors_rank_first_and_are_drawn(wrinkle_root, tmp_path):
    truth = pd.read_csv(label_noise.inject_segmentation(wrinkle_root, tmp_path / "noisy", 2, seed=1))
    rows = []
    for image in sorted((tmp_path / "noisy/train/images").iterdir()):
        clean = cv2.imread(str(wrinkle_root / "train/masks" / f"{image.stem}.png"), cv2.IMREAD_GRAYSCALE) > 0
        prob = 0.05 + 0.9 * cv2.GaussianBlur(clean.astype(np.float32), (5, 5), 1.0)  # a model that learnt the task
        np.save(tmp_path / f"{image.stem}.npy", prob)
        rows.append({"name": image.stem, "image": str(image), "probability": str(tmp_path / f"{image.stem}.npy"),
                     "mask": str(tmp_path / f"noisy/train/masks/{image.stem}.png"), "fold": 0})
    pd.DataFrame(rows).to_csv(tmp_path / "oof_segmentation.csv", index=False)
    assert find_label_errors.main([str(tmp_path / "oof_segmentation.csv"), "--review", "4"]) == 0
    issues = pd.read_csv(tmp_path / "label_errors/issues.csv")
    assert set(issues["file"][:4].map(os.path.abspath)) == set(truth["key"])  # all four injected masks first
    erased = truth[truth["given"] == "erased"]["key"].iloc[0]
    stem = os.path.splitext(os.path.basename(erased))[0]
    suggested = cv2.imread(str(tmp_path / f"label_errors/suggested_masks/{stem}.png"), cv2.IMREAD_GRAYSCALE) > 0
    clean = cv2.imread(str(wrinkle_root / f"train/masks/{stem}.png"), cv2.IMREAD_GRAYSCALE) > 0
    assert (suggested & clean).sum() / (suggested | clean).sum() > 0.5  # the erased wrinkles come back
    assert cv2.imread(str(tmp_path / "label_errors/review.png")) is not None


def test_missing_or_unusable_predictions_are_named(tmp_path, capsys):
    assert find_label_errors.main([str(tmp_path / "nowhere/oof_probabilities.csv")]) == 2
    assert "oof_probabilities.csv not found; run tools/kfold.py" in capsys.readouterr().err
    assert find_label_errors.main([str(tmp_path)]) == 2
    assert "holds no out-of-fold predictions (oof_predictions.csv" in capsys.readouterr().err
    pd.DataFrame({"path": ["a.jpg"], "ans": [3]}).to_csv(tmp_path / "oof_predictions.csv", index=False)
    assert find_label_errors.main([str(tmp_path)]) == 2
    assert "no head with both probabilities and given labels" in capsys.readouterr().err
    (tmp_path / "my_predictions.csv").write_text("path,label\na.jpg,0\n")  # no config.json to tell its family
    assert find_label_errors.main([str(tmp_path / "my_predictions.csv")]) == 2
    assert "no task family writes a k-fold file of that name (oof_predictions.csv, oof_segmentation.csv)" in \
        capsys.readouterr().err


FOLDED = {"clips": ("action_quick", "action_root", "frames"), "segmentation": ("wrinkle_quick", "wrinkle_root", ""),
          "ffhq_wrinkle": ("wrinkle_ffhq_finetune", "ffhq_wrinkle_root", ""),
          "ffhq_crops": ("wrinkle_ffhq_crops", "ffhq_crops_root", ""),
          "ucf101": ("action_ucf101_r2plus1d", "ucf101_root", ""),
          "hmdb51": ("action_hmdb51_r2plus1d", "hmdb51_root", ""),
          "kinetics": ("action_kinetics_r2plus1d", "kinetics_root", "")}


@pytest.mark.parametrize("layout", list(FOLDED))
def test_kfold_holds_out_every_train_and_val_sample_once(layout, request):
    """Every family's datasets fold themselves, the public layouts' readers included."""
    from trainer.build import build_dataset

    config, fixture, sub = FOLDED[layout]
    root = request.getfixturevalue(fixture) / sub
    cfg = apply_overrides(load_config(REPO / f"configs/{config}.json"), [f"data.dataset.args.root={root}"])

    def names(dataset):  # the samples' files
        files = [c.path for c in dataset.clips] if hasattr(dataset, "clips") else [image for image, _ in dataset.items]
        return [os.path.realpath(f) for f in files]
    pool = sorted(n for s in ("train", "val") for n in names(build_dataset(cfg, s)))
    held = []
    for k in range(3):
        fold = kfold.fold_config(cfg, k, n_folds=3)
        train, val = (sorted(names(build_dataset(fold, s))) for s in ("train", "val"))
        assert not set(train) & set(val) and sorted(train + val) == pool
        held += val
    assert sorted(held) == pool  # each sample predicted once, by the model that did not train on it
