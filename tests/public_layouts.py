"""Miniatures of the public datasets in the layouts their authors publish: the same folders, file names and
list-file syntax, a handful of the project's generated faces and clips in place of the real pictures.

    ffhq_wrinkle(root)    github.com/labhai/ffhq-wrinkle-dataset + FFHQ's images1024x1024
    ffhq_crops(root)      github.com/vanijan/Wrinkle-Dataset-and-Wrinkle-Video-Evaluation + FFHQ's images
    ucf101(root)          UCF101.rar (UCF-101/) + UCF101TrainTestSplits-RecognitionTask.zip (ucfTrainTestlist/)
    hmdb51(root)          hmdb51_org.rar's class folders + test_train_splits.rar (testTrainMulti_7030_splits/)
    kinetics(root)        annotations/<split>.csv + clips named <youtube_id>_<start:06d>_<end:06d>.mp4
"""
import csv
from pathlib import Path

import cv2
import numpy as np

from samples.action_clips import render_clip, write_video
from samples.wrinkle import render_face

# ids as FFHQ-Wrinkle names them: manual masks over several buckets, two of them on the published test list
MANUAL_IDS = ("00001", "00011", "01044", "01357", "03140", "03179", "21035", "21036")
TEST_IDS = ("01044", "03140")
WEAK_ONLY_IDS = ("00000", "00002", "01000", "01001", "02000", "02001", "49998", "49999")


def bucket(ffhq_id):
    return f"{int(ffhq_id) // 1000 * 1000:05d}"


def texture_map(bgr):
    """The paper's weak label: T = (1 - I / (1 + G(I))) x 255, G a 21x21 Gaussian of sigma 5, zero outside
    the face (here an ellipse), as 8-bit grey."""
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    t = np.clip((1 - grey / (1 + cv2.GaussianBlur(grey, (21, 21), 5))) * 255 * 4, 0, 255)  # x4: visible at this size
    return (t * face_region(bgr.shape[:2])).astype(np.uint8)


def face_region(shape):
    h, w = shape
    region = np.zeros((h, w), np.uint8)
    cv2.ellipse(region, (w // 2, h // 2), (int(w * 0.4), int(h * 0.45)), 0, 0, 360, 1, -1)
    return region


def _write(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def ffhq_wrinkle(root, size=64, seed=0):
    """FFHQ-Wrinkle after download_ffhq_wrinkle.sh, the FFHQ images and face_masking.sh."""
    root = Path(root)
    for n, i in enumerate(sorted(set(MANUAL_IDS) | set(WEAK_ONLY_IDS))):
        face, mask = render_face(np.random.default_rng([seed, n]), size, size)
        _write(root / "images1024x1024" / bucket(i) / f"{i}.png", face)
        _write(root / "weak_wrinkle_masks" / bucket(i) / f"{i}.png", texture_map(face))
        if i in MANUAL_IDS:
            _write(root / "manual_wrinkle_masks" / f"{i}.png", mask * 255)
            _write(root / "face_images" / f"{i}.png", face)
            _write(root / "masked_face_images" / f"{i}.png", face * face_region(face.shape[:2])[..., None])
    (root / "test_file_lists.txt").write_text("\n".join(TEST_IDS))  # as published: no final newline
    return root


CROP_IDS = ("00002", "00015", "00018", "00021", "00039", "00040", "00043", "00048")


def ffhq_crops(root, size=96, crop=64, seed=0):
    """The repository's wrinkles/ folder (final<id>.bmp, crop_limits.npy) next to FFHQ's images1024x1024."""
    root = Path(root)
    rows = []
    for n, i in enumerate(CROP_IDS):
        rng = np.random.default_rng([seed, n])
        face, mask = render_face(rng, size, size)
        h0, w0 = (int(v) for v in rng.integers(0, size - crop, 2))
        rows.append([int(i), h0, h0 + crop, w0, w0 + crop - 8])  # crops need not be square
        _write(root / "images1024x1024" / bucket(i) / f"{i}.png", face)
        _write(root / "wrinkles" / f"final{i}.bmp", mask[h0:h0 + crop, w0:w0 + crop - 8] * 255)
    np.save(root / "wrinkles" / "crop_limits.npy", np.array(rows, dtype=np.int64))
    return root


# --- action recognition ----------------------------------------------------------------------------
# Each public class is played by a stick-figure action, so a few steps can learn something.
UCF_CLASSES = {"ApplyEyeMakeup": "stand", "HandstandPushups": "fall", "WalkingWithDog": "walk_left"}
UCF_GROUPS = (1, 8, 15, 22)  # the test groups of splits 1, 2, 3 are 1-7, 8-14, 15-21; 22-25 always train


def _clip(path, action, seed, frames=12, height=48, width=64):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, render_clip(np.random.default_rng(seed), action, frames, height, width))


def ucf101(root, seed=0):
    """UCF-101/<Class>/v_<Class>_gGG_cCC.avi and ucfTrainTestlist/ (classInd, train/test lists, CRLF lines).
    HandstandPushups keeps the published quirk: its files are named v_HandStandPushups_..."""
    root = Path(root)
    lists = {f"{kind}list0{s}.txt": [] for kind in ("train", "test") for s in (1, 2, 3)}
    for c, (name, action) in enumerate(UCF_CLASSES.items()):
        file_name = "HandStandPushups" if name == "HandstandPushups" else name
        for g in UCF_GROUPS:
            for k in (1, 2):
                rel = f"{name}/v_{file_name}_g{g:02d}_c{k:02d}.avi"
                _clip(root / "UCF-101" / rel, action, [seed, c, g, k])
                for s in (1, 2, 3):
                    test = UCF_GROUPS[s - 1] == g
                    lists[f"{'test' if test else 'train'}list0{s}.txt"].append(rel if test else f"{rel} {c + 1}")
    out = root / "ucfTrainTestlist"
    out.mkdir()
    (out / "classInd.txt").write_bytes("".join(f"{c + 1} {n}\r\n" for c, n in enumerate(UCF_CLASSES)).encode())
    for name, lines in lists.items():
        (out / name).write_bytes("".join(f"{line}\r\n" for line in lines).encode())
    return root


HMDB_CLASSES = {"brush_hair": "stand", "cartwheel": "fall", "walk": "walk_right"}


def hmdb51(root, seed=0):
    """hmdb51_org/<class>/<video>.avi and testTrainMulti_7030_splits/<class>_test_split<N>.txt, lines
    '<video>.avi <0|1|2> ' (1 train, 2 test, 0 unused), names with the published punctuation."""
    root = Path(root)
    out = root / "testTrainMulti_7030_splits"
    out.mkdir(parents=True)
    for c, (name, action) in enumerate(HMDB_CLASSES.items()):
        videos = [f"#{c}_{name}_(take_{k})_f_nm_np1_fr_med_{k}.avi" for k in range(5)]
        for k, video in enumerate(videos):
            _clip(root / "hmdb51_org" / name / video, action, [seed, c, k])
        for s in (1, 2, 3):
            tags = [1, 1, 1, 2, 0] if s == 1 else [2, 1, 1, 1, 0] if s == 2 else [1, 2, 1, 1, 0]
            (out / f"{name}_test_split{s}.txt").write_text("".join(f"{v} {t} \n" for v, t in zip(videos, tags)))
    return root


KINETICS_CLASSES = {"abseiling": "fall", "massaging person's head": "stand", "passing American football (in game)":
                    "walk_left"}


def kinetics(root, seed=0):
    """annotations/{train,val,test}.csv (label,youtube_id,time_start,time_end,split,is_cc) and the clips:
    train/<label as torchvision names its folder>/, val/ flat, test/ flat and unlabelled."""
    root = Path(root)
    (root / "annotations").mkdir(parents=True)
    for s, split in enumerate(("train", "val", "test")):
        rows = []
        for c, (label, action) in enumerate(KINETICS_CLASSES.items()):
            for k in range(3 if split == "train" else 1):
                youtube_id, start = f"-{c}x_{split[:2]}{k}-Ab", 10 * k + 3  # ids may hold - and _
                name = f"{youtube_id}_{start:06d}_{start + 10:06d}.mp4"
                folder = label.replace(" ", "_").replace("'", "").replace("(", "").replace(")", "")
                _clip(root / split / (folder if split == "train" else "") / name, action, [seed, s, c, k])
                rows.append([label, youtube_id, start, start + 10, split, 0])
        with open(root / "annotations" / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            if split == "test":  # a test list without labels
                writer.writerows([["youtube_id", "time_start", "time_end", "split"]] + [r[1:5] for r in rows])
            else:
                writer.writerows([["label", "youtube_id", "time_start", "time_end", "split", "is_cc"]] + rows)
    return root
