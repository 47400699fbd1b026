"""tools/crop_faces.py: face crops cached with their masks, centre-crop fallback reported, re-runs resume."""
import csv
import json
import math
from argparse import Namespace

import cv2
import numpy as np
import pytest
from skimage import data

from conftest import REPO
from data_loader.face_crop import center_plan, face_plan
from data_loader.face_detection import Face
from tools import crop_faces

ASTRONAUT_EYES = [(205, 102), (247, 104)]  # located with MTCNN (see test_face_detection.py)


def rows(path):
    with open(path, newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


def source_crop(image, row, fill=None):
    """The crop a row describes, cut by plain slicing (the reference for the tool's warp)."""
    side = round(float(row["crop_side"]))
    x0, y0 = round(float(row["crop_cx"]) - side / 2), round(float(row["crop_cy"]) - side / 2)
    ys, xs = np.arange(y0, y0 + side), np.arange(x0, x0 + side)
    out = image[np.ix_(ys.clip(0, image.shape[0] - 1), xs.clip(0, image.shape[1] - 1))].copy()
    if fill is not None:
        out[(ys < 0) | (ys >= image.shape[0])] = fill
        out[:, (xs < 0) | (xs >= image.shape[1])] = fill
    return out


@pytest.fixture
def photos(tmp_path):
    """A dataset-like folder: two images with masks (a face, no face), a loose photo and a labels file."""
    src = tmp_path / "src"
    for sub in ("train/images", "train/masks", "loose"):
        (src / sub).mkdir(parents=True)
    astronaut, coffee = data.astronaut()[..., ::-1], data.coffee()[..., ::-1]  # RGB -> BGR for cv2
    cv2.imwrite(str(src / "train/images/astronaut.png"), astronaut)
    cv2.imwrite(str(src / "train/images/coffee.png"), coffee)
    for name, image in (("astronaut", astronaut), ("coffee", coffee)):
        yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
        cv2.imwrite(str(src / f"train/masks/{name}.png"), (((xx + 2 * yy) % 7 == 0) * 255).astype(np.uint8))
    cv2.imwrite(str(src / "loose/astronaut_copy.png"), astronaut)
    (src / "train/labels.csv").write_text("file,age\nastronaut.png,40\n")
    return src


def test_faces_are_cropped_with_their_masks_and_misses_fall_back_to_a_centre_crop(photos, tmp_path):
    out = tmp_path / "out"
    assert crop_faces.main(["--input", str(photos), "--out", str(out), "--progress", "none"]) == 0
    index = rows(out / "crops.csv")
    assert set(index) == {"train/images/astronaut.png", "train/images/coffee.png", "loose/astronaut_copy.png"}
    face = index["train/images/astronaut.png"]
    assert face["status"] == "face" and face["mask"] == "train/masks/astronaut.png"
    box = [float(face[k]) for k in ("face_x0", "face_y0", "face_x1", "face_y1")]
    assert all(box[0] <= x <= box[2] and box[1] <= y <= box[3] for x, y in ASTRONAUT_EYES)
    assert float(face["crop_side"]) == pytest.approx(1.8 * max(box[2] - box[0], box[3] - box[1]), abs=1)  # margin 0.4
    for name, row in index.items():  # every crop (face or fallback) is an exact copy of its source square
        image = cv2.imread(str(photos / name))
        assert np.array_equal(cv2.imread(str(out / name)), source_crop(image, row))
    mask_src = cv2.imread(str(photos / "train/masks/astronaut.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(cv2.imread(str(out / "train/masks/astronaut.png"), cv2.IMREAD_UNCHANGED),
                          source_crop(mask_src, face, fill=0))
    # the photo without a face: a centred square of 0.8 of its shorter side, reported in faces_not_found.csv
    missing = rows(out / "faces_not_found.csv")
    assert list(missing) == ["train/images/coffee.png"] and missing["train/images/coffee.png"]["status"] == "fallback"
    h, w = data.coffee().shape[:2]
    fallback = index["train/images/coffee.png"]
    got = [float(fallback[k]) for k in ("crop_side", "crop_cx", "crop_cy")]
    assert got == pytest.approx([0.8 * h, w / 2, h / 2])
    assert cv2.imread(str(out / "train/masks/coffee.png")).shape[:2] == (round(0.8 * h),) * 2
    assert (out / "train/labels.csv").read_text() == (photos / "train/labels.csv").read_text()


def test_a_second_run_skips_finished_files_and_does_only_new_ones(photos, tmp_path, capsys):
    out = tmp_path / "out"
    assert crop_faces.main(["--input", str(photos), "--out", str(out), "--progress", "none", "--size", "64"]) == 0
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert crop_faces.main(["--input", str(photos), "--out", str(out), "--progress", "none", "--size", "64"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == stamps
    assert "0 faces, 0 centre crops, 0 unreadable, 3 already done" in capsys.readouterr().out
    cv2.imwrite(str(photos / "loose/rocket.png"), data.rocket())
    assert crop_faces.main(["--input", str(photos), "--out", str(out), "--progress", "none", "--size", "64"]) == 0
    assert "0 faces, 1 centre crops, 0 unreadable, 3 already done" in capsys.readouterr().out
    assert cv2.imread(str(out / "loose/rocket.png")).shape == (64, 64, 3)
    assert len(rows(out / "faces_not_found.csv")) == 2  # coffee and rocket, the report covers every run


def test_align_turns_the_face_so_the_eyes_lie_level(tmp_path):
    class TiltedFace:
        landmarks = True

        def detect(self, image):
            return [Face((60, 60, 140, 140), 1.0, {"left_eye": (80, 90), "right_eye": (120, 110)})]

    image = np.full((200, 200, 3), 255, np.uint8)
    for x, y in ((80, 90), (120, 110)):
        cv2.circle(image, (x, y), 3, (0, 0, 0), -1)
    (tmp_path / "src").mkdir()
    cv2.imwrite(str(tmp_path / "src/tilted.png"), image)
    args = Namespace(margin=0.2, align=True, size=100, center_crop=0.8, image_dir="images", mask_dir="masks",
                     progress="none")
    crop_faces.crop_folder(tmp_path / "src", tmp_path / "out", TiltedFace(), args)
    row = rows(tmp_path / "out/crops.csv")["tilted.png"]
    assert float(row["angle"]) == pytest.approx(math.degrees(math.atan2(20, 40)), abs=1e-3)
    out = cv2.imread(str(tmp_path / "out/tilted.png"), cv2.IMREAD_GRAYSCALE)
    n, _, _, centres = cv2.connectedComponentsWithStats((out < 128).astype(np.uint8))
    (x1, y1), (x2, y2) = sorted(centres[1:].tolist())
    assert n == 3 and abs(y1 - y2) < 1.0 and x2 - x1 == pytest.approx(math.hypot(40, 20) * 100 / 112, abs=1.5)


def test_plans_are_exact_squares_of_the_source():
    plan = face_plan(Face((10.3, 20.6, 50.2, 61.1)), margin=0.5)
    assert plan.angle == 0 and plan.side == round(40.5 * 2) and plan.out_side == plan.side
    x0, y0, _, _ = plan.box()
    assert x0 == int(x0) and y0 == int(y0)  # snapped to whole pixels
    assert np.allclose(plan.matrix(), [[1, 0, x0], [0, 1, y0]])
    with pytest.raises(ValueError, match="fraction of the shorter side"):
        center_plan(100, 100, fraction=1.5)


def test_align_needs_a_detector_with_landmarks(photos, tmp_path, capsys):
    assert crop_faces.main(["--input", str(photos), "--out", str(tmp_path / "o"), "--align"]) == 2
    assert "LBPCascade finds no landmarks" in capsys.readouterr().err


def test_a_dataset_config_is_cropped_into_a_dataset_that_trains(wrinkle_root, tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"_base_": str(REPO / "configs/wrinkle_quick.json"),
                               "data": {"dataset": {"args": {"root": str(wrinkle_root)}}}}))
    out = tmp_path / "faces"
    assert crop_faces.main(["--config", str(cfg), "--out", str(out), "--progress", "none", "--margin", "0.2"]) == 0
    from data_loader.wrinkle import WrinkleDataset

    for split in ("train", "val", "test"):  # images and masks still pair and match in size
        ds = WrinkleDataset(out, split=split)
        assert len(ds) == len(WrinkleDataset(wrinkle_root, split=split))
        assert set(ds[0]["target"].unique().tolist()) <= {0.0, 1.0}
