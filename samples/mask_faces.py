"""Synthetic face-mask dataset in the real competition layout.

Drawn portraits where every label is visible: the mask covers nose and mouth (wear), only
the mouth (incorrect), or is absent (not wear); women have long hair and
earrings, men short hair; hair turns from dark to grey to white, and the forehead wrinkles,
with age. Written exactly as the real data is laid out::

    <root>/train/train.csv                  id,gender,race,age,path (ids like 000012-1, one id repeats)
    <root>/train/images/<path>/             mask1..mask5, incorrect_mask, normal (.jpg/.jpeg/.png, some mixed)
    <root>/eval/info.csv                    ImageID,ans (ans = 0)
    <root>/eval/images/<ImageID>            flat, hashed names

plus junk files (`._mask1.jpg`, `.DS_Store`) and two sample-only files: `<root>/label_fix.csv`
corrects a few persons written with a wrong label on purpose (like the real data's known
mislabels), and `<root>/eval/answers.csv` holds the eval classes (age bins 30 / 60) so a
submission can be scored.

CLI: ``python -m samples.mask_faces --out data/samples/mask_faces``
"""
import argparse
import csv
import hashlib
import os
import pathlib
import shutil
import sys
import tempfile

import cv2
import numpy as np

from data_loader.mask_labels import MASK_FILES, age_bin, encode

SAMPLE_ROOT = "data/samples/mask_faces"
SIZE = (384, 512)  # width, height of the real photos
_SKIN = np.array([[180, 200, 235], [150, 180, 220], [120, 155, 200], [90, 120, 165]], np.float32)  # BGR
_MASK_COLORS = np.array([[245, 245, 245], [235, 205, 160], [40, 40, 40], [170, 170, 170], [50, 50, 170],
                         [110, 60, 30], [150, 210, 150]], np.float32)


def _pt(x, y, w, h):
    return int(round(x * w)), int(round(y * h))


def _ax(a, b, w, h):
    return max(1, int(round(a * w))), max(1, int(round(b * h)))


def hair_color(rng, age):
    """Dark below 30, greying from 30 to 59, white from 60 (BGR)."""
    if age < 30:
        v = rng.uniform(20, 60)
        return np.array([v * 0.8, v * 0.9, v * 1.1])
    if age < 60:
        v = 85 + 65 * (age - 30) / 30 + rng.uniform(-8, 8)
        return np.array([v, v, v])
    v = rng.uniform(205, 240)
    return np.array([v, v, v])


def person_look(rng, gender, age):
    """What stays the same across one person's seven photos."""
    return {"female": gender == "female", "age": age, "skin": _SKIN[rng.integers(len(_SKIN))] + rng.normal(0, 6, 3),
            "hair": hair_color(rng, age), "background": rng.uniform(90, 230, 3), "shirt": rng.uniform(20, 230, 3),
            "center": rng.uniform(-0.03, 0.03, 2), "earring": rng.uniform(0, 255, 3)}


def render(rng, look, mask_state, size=SIZE):
    """One BGR photo; mask_state 0 wear (over the nose), 1 incorrect (under the nose), 2 none."""
    w, h = size
    if look.get("_canvas", np.empty(0)).shape[:2] != (h, w):  # the backdrop: a vertical gradient, drawn once
        column = np.clip(look["background"][None, :] * np.linspace(1.08, 0.9, h)[:, None], 0, 255)
        look["_canvas"] = np.repeat(column[:, None, :], w, axis=1).astype(np.uint8)
    img = look["_canvas"].copy()
    dx, dy = look["center"] + rng.uniform(-0.02, 0.02, 2)
    s = rng.uniform(0.95, 1.05)

    def P(x, y):
        return _pt(0.5 + (x - 0.5) * s + dx, 0.47 + (y - 0.47) * s + dy, w, h)

    def A(a, b):
        return _ax(a * s, b * s, w, h)

    hair, skin = tuple(map(float, look["hair"])), tuple(map(float, look["skin"]))
    cv2.ellipse(img, P(0.5, 1.08), A(0.48, 0.26), 0, 0, 360, tuple(map(float, look["shirt"])), -1)
    if look["female"]:  # long hair falling to the shoulders, behind the face
        cv2.ellipse(img, P(0.5, 0.44), A(0.30, 0.33), 0, 0, 360, hair, -1)
        cv2.rectangle(img, P(0.20, 0.45), P(0.80, 0.88), hair, -1)
    cv2.rectangle(img, P(0.43, 0.70), P(0.57, 0.86), skin, -1)  # neck
    for x in (0.28, 0.72):
        cv2.ellipse(img, P(x, 0.47), A(0.03, 0.05), 0, 0, 360, skin, -1)
    cv2.ellipse(img, P(0.5, 0.47), A(0.22, 0.28), 0, 0, 360, skin, -1)
    if look["female"]:
        for x in (0.28, 0.72):
            cv2.circle(img, P(x, 0.53), max(2, int(0.018 * w * s)), tuple(map(float, look["earring"])), -1)
        cv2.ellipse(img, P(0.5, 0.27), A(0.23, 0.11), 0, 180, 360, hair, -1)  # fringe
    else:  # short hair: a cap on top of the head
        cv2.ellipse(img, P(0.5, 0.27), A(0.24, 0.14), 0, 180, 360, hair, -1)
    n_wrinkles = int(np.clip((look["age"] - 35) / 8, 0, 4))
    for i in range(n_wrinkles):
        y = 0.31 + 0.025 * i
        cv2.line(img, P(0.40, y), P(0.60, y), tuple(float(c) * 0.6 for c in skin), max(1, int(0.006 * w)))
    for x in (0.41, 0.59):
        cv2.line(img, P(x - 0.05, 0.385), P(x + 0.05, 0.385), hair, max(2, int(0.012 * w)))  # brows
        cv2.ellipse(img, P(x, 0.43), A(0.035, 0.016), 0, 0, 360, (245, 245, 245), -1)
        cv2.circle(img, P(x, 0.43), max(2, int(0.012 * w)), (40, 30, 20), -1)
    nose = np.array([P(0.5, 0.45), P(0.465, 0.56), P(0.535, 0.56)], np.int32)
    cv2.fillPoly(img, [nose], tuple(float(c) * 0.85 for c in skin))
    for x in (0.485, 0.515):
        cv2.circle(img, P(x, 0.555), max(1, int(0.007 * w)), (40, 40, 60), -1)
    cv2.ellipse(img, P(0.5, 0.645), A(0.06, 0.018), 0, 0, 360, (70, 70, 180), -1)  # mouth
    if mask_state != 2:
        top = rng.uniform(0.47, 0.5) if mask_state == 0 else rng.uniform(0.575, 0.62)
        _draw_mask(rng, img, P, A, top, w)
    return cv2.convertScaleAbs(img, alpha=rng.uniform(0.85, 1.15), beta=rng.uniform(-8, 8))


def _draw_mask(rng, img, P, A, top, w):
    color = _MASK_COLORS[rng.integers(len(_MASK_COLORS))] + rng.normal(0, 8, 3)
    c = tuple(map(float, color))
    poly = np.array([P(0.30, top + 0.02), P(0.40, top), P(0.60, top), P(0.70, top + 0.02), P(0.68, 0.70),
                     P(0.58, 0.77), P(0.42, 0.77), P(0.32, 0.70)], np.int32)
    cv2.fillPoly(img, [poly], c)
    dark = tuple(float(v) * 0.7 for v in color)
    for y in np.linspace(top + 0.04, 0.72, 3):
        cv2.line(img, P(0.34, y), P(0.66, y), dark, max(1, int(0.004 * w)))
    for x0, x1 in ((0.30, 0.27), (0.70, 0.73)):
        cv2.line(img, P(x0, top + 0.03), P(x1, 0.45), dark, max(1, int(0.005 * w)))


def _ages(rng, n):
    """Roughly the real mix: many young, many middle-aged, few old (mostly exactly 60)."""
    kind = rng.choice(3, size=n, p=[0.42, 0.40, 0.18])
    young, middle = rng.integers(18, 30, n), rng.integers(30, 60, n)
    old = np.where(rng.random(n) < 0.7, 60, rng.integers(60, 75, n))
    return np.choose(kind, [young, middle, old])


def _write(path, image, ext):
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path.with_suffix(ext)), image, params):
        raise OSError(f"could not write {path.with_suffix(ext)}")


def _persons(rng, n):
    ids = np.sort(rng.choice(np.arange(1, 7000), size=n, replace=False))
    ids = [f"{i:06d}" for i in ids]
    if n >= 4:
        ids[-1] = ids[n // 2]  # the real train.csv has ids that repeat for different people
        others = [i for i in range(n - 1) if i != n // 2]
        for j in rng.choice(others, size=max(1, n // 20), replace=False):
            ids[j] += "-1"  # and ids like 001498-1
    genders = np.where(rng.random(n) < 0.6, "female", "male")
    ages = _ages(rng, n)
    if n >= 4 and genders[-1] == genders[n // 2] and ages[-1] == ages[n // 2]:
        ages[-1] += 1  # the repeated id is another person: a folder of its own (id_gender_race_age)
    return list(zip(ids, genders, ages))


def _write_train(rng, root, persons, size, mislabel):
    images = root / "train" / "images"
    images.mkdir(parents=True)
    rows, fixes = [], []
    for k, (pid, gender, age) in enumerate(persons):
        look = person_look(rng, gender, age)
        shown = {"gender": gender, "age": int(age)}
        kind = mislabel.get(k)
        if kind == "gender":
            shown["gender"] = "male" if gender == "female" else "female"
        elif kind == "age":
            shown["age"] = int(age) - 40 if age >= 60 else int(age) + 40
        folder = f"{pid}_{shown['gender']}_Asian_{shown['age']}"
        rows.append([pid, shown["gender"], "Asian", shown["age"], folder])
        if kind:
            fixes.append([pid, folder, gender if kind == "gender" else "", int(age) if kind == "age" else "",
                          "incorrect_mask,normal" if kind == "swap" else ""])
        (images / folder).mkdir()
        exts = [".jpg"] * 7 if rng.random() < 0.7 else [rng.choice([".jpg", ".jpeg", ".png"])] * 7
        if rng.random() < 0.2:
            exts = list(rng.choice([".jpg", ".jpeg", ".png"], size=7))
        for (stem, state), ext in zip(MASK_FILES.items(), exts):
            drawn = {1: 2, 2: 1}.get(state, state) if kind == "swap" else state
            _write(images / folder / stem, render(rng, look, drawn, size), ext)
        if k % 6 == 1:
            (images / folder / "._mask1.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
        if k % 9 == 4:
            (images / folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (images / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    _csv(root / "train" / "train.csv", ["id", "gender", "race", "age", "path"], rows)
    _csv(root / "label_fix.csv", ["id", "path", "gender", "age", "swap"], fixes)


def _write_eval(rng, root, persons, size, seed):
    images = root / "eval" / "images"
    images.mkdir(parents=True)
    photos = []
    for pid, gender, age in persons:
        look = person_look(rng, gender, age)
        for state in MASK_FILES.values():
            label = int(encode(state, int(gender == "female"), int(age_bin(age))))
            photos.append((render(rng, look, state, size), label))
    order = rng.permutation(len(photos))
    info, answers = [], []
    for i, j in enumerate(order):
        image_id = hashlib.sha1(f"{seed}-{i}".encode()).hexdigest() + ".jpg"
        _write(images / image_id, photos[j][0], ".jpg")
        info.append([image_id, 0])
        answers.append([image_id, photos[j][1]])
    (images / "._0a1b2c.jpg").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    _csv(root / "eval" / "info.csv", ["ImageID", "ans"], info)
    _csv(root / "eval" / "answers.csv", ["ImageID", "ans"], answers)


def _csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def generate_mask_dataset(root=SAMPLE_ROOT, n_train=60, n_eval=10, seed=0, size=SIZE, mislabels=True):
    """Write the dataset atomically (built in a sibling temp dir, then renamed to `root`); returns root.

    `n_train` / `n_eval` are persons (7 photos each); `size` is (width, height). With `mislabels`,
    two persons get the wrong gender, one the wrong age and one swapped incorrect/normal photos
    in train.csv, all listed in label_fix.csv."""
    root = pathlib.Path(root)
    if root.exists():
        raise FileExistsError(f"{root} already exists; remove it to regenerate")
    root.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    persons = _persons(rng, n_train) + _persons(rng, n_eval)
    mislabel = {}
    if mislabels and n_train >= 8:
        picks = rng.choice(n_train, size=4, replace=False)
        mislabel = dict(zip(picks.tolist(), ["gender", "gender", "age", "swap"]))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        _write_train(rng, tmp, persons[:n_train], size, mislabel)
        _write_eval(rng, tmp, persons[n_train:], size, seed)
        tmp.chmod(0o755)  # mkdtemp makes it owner-only
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def main(argv=None):
    p = argparse.ArgumentParser(description="Write the synthetic face-mask sample dataset.")
    p.add_argument("--out", default=SAMPLE_ROOT)
    p.add_argument("--train", type=int, default=60, help="persons in train (7 photos each)")
    p.add_argument("--eval", type=int, default=10, help="persons in eval (7 photos each)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    root = generate_mask_dataset(args.out, args.train, args.eval, args.seed)
    print(f"wrote {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
