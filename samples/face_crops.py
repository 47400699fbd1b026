"""Real face crops in both layouts of the image-classification dataset (data_loader/image_table.py).

The pixels are scikit-image's lfw_subset.npy: 100 face crops from Labeled Faces in the Wild and
100 crops of their backgrounds (25x25 grey). Each crop is written in four orientations (where
its top points: up, left, down, right), turned by a further -15..15 degrees, so a sample has two
labels - what it shows (content: face or background, the real label) and its angle in degrees (a
number, binned into the four orientations by the recipe) - and a group, the crop it comes from.
Groups never straddle splits (60 / 20 / 20 % of each content's crops, seeded).

    <root>/labels.csv                       path,content,angle,crop,split   (split: train or test;
                                            val is held out of train by crop, as the recipe says)
    <root>/images/crop<NNN>_<k>.png         k = 0..3: up, left, down, right
    <root>/folder/{train,val,test}/<content>/crop<NNN>_<k>.png   the same images as an ImageFolder
                                            (its val crops are train rows in the CSV)

plus junk files (`._crop000_0.png`, `.DS_Store`) that the dataset must ignore.

CLI: ``python -m samples.face_crops --out data/samples/face_crops``
"""
import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

SAMPLE_ROOT = "data/samples/face_crops"
ORIENTATIONS = ("up", "left", "down", "right")  # where the crop's top points after turning by k * 90 degrees
ANGLE_BINS = [-45, 45, 135, 225]  # lower edges of those orientations, in degrees counterclockwise
JITTER = 15  # degrees


def load_lfw_subset():
    """(200, 25, 25) uint8 grey crops: 100 faces, then 100 backgrounds, as scikit-image ships them."""
    from skimage import data

    path = Path(data.__file__).parent / "lfw_subset.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{path} (shipped with scikit-image) is missing; pip install -r requirements.txt")
    return (np.load(path) * 255).round().astype(np.uint8)


def turn(crop, angle):
    """The crop turned counterclockwise by `angle` degrees (quarter turns exact, the rest interpolated)."""
    quarters = int(round(angle / 90)) % 4
    rest = angle - 90 * round(angle / 90)
    h, w = crop.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), rest, 1.0)
    turned = cv2.warpAffine(crop, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return np.ascontiguousarray(np.rot90(turned, quarters))


def assign_splits(content, rng, fractions=(0.6, 0.2, 0.2)):
    """'train' / 'val' / 'test' per crop: the fractions of each content's crops, shuffled."""
    splits = np.empty(len(content), object)
    for value in np.unique(content):
        idx = rng.permutation(np.flatnonzero(content == value))
        cut = np.round(np.cumsum(fractions)[:-1] * len(idx)).astype(int)
        for name, part in zip(("train", "val", "test"), np.split(idx, cut)):
            splits[part] = name
    return splits


def generate_face_crops(root, seed=0):
    """Write the sample set at `root` (refusing a non-empty one), atomically; return root."""
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ValueError(f"{root} already exists and is not empty; refusing to overwrite it")
    crops = load_lfw_subset()
    content = np.array(["face"] * 100 + ["background"] * 100)
    rng = np.random.default_rng(seed)
    splits = assign_splits(content, rng)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        (tmp / "images").mkdir()
        rows = ["path,content,angle,crop,split"]
        for i, crop in enumerate(crops):
            for k in range(len(ORIENTATIONS)):
                angle = 90 * k + rng.uniform(-JITTER, JITTER)
                name = f"crop{i:03d}_{k}.png"
                cv2.imwrite(str(tmp / "images" / name), turn(crop, angle))
                folder = tmp / "folder" / splits[i] / content[i]
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tmp / "images" / name, folder / name)
                csv_split = "test" if splits[i] == "test" else "train"
                rows.append(f"images/{name},{content[i]},{angle:.1f},crop{i:03d},{csv_split}")
        (tmp / "labels.csv").write_text("\n".join(rows) + "\n")
        (tmp / "folder" / "train" / "face" / "._crop000_0.png").write_bytes(b"\x00\x05\x16\x07junk")  # macOS
        (tmp / "folder" / "train" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
        tmp.rename(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def main(argv=None):
    ap = argparse.ArgumentParser(description="Generate the real face-crop sample set (CSV and ImageFolder).")
    ap.add_argument("--out", default=SAMPLE_ROOT, help=f"output directory (default: {SAMPLE_ROOT})")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        root = generate_face_crops(args.out, args.seed)
    except ValueError as e:
        ap.error(str(e))
    print(f"wrote {root} (seed {args.seed})")


if __name__ == "__main__":
    sys.exit(main())
