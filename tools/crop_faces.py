"""Cache face crops of a dataset so models train on the face, not the background.

    python tools/crop_faces.py --input data/photos --out data/photos_faces [--margin 0.4] [--size 256]
    python tools/crop_faces.py --config configs/wrinkle_quick.json --out data/wrinkle_faces
    python train.py --config configs/wrinkle_quick.json -o data.dataset.args.root=data/wrinkle_faces

Mirrors the input folder (with --config: the dataset's `root`, generated first if it is the sample
data) into --out: every image becomes the square around its largest face, grown by --margin of the
face box on each side (optionally turned so the eyes lie level: --align, which needs a detector
with landmarks), resized to --size when given. A mask (a file under a `masks` folder, paired by
stem with the file under the sibling `images` folder) is cut exactly like its image (nearest
neighbour). Other files (CSV labels, ...) are copied as they are.

An image without a face falls back to a centred square of --center-crop of its shorter side and is
listed in faces_not_found.csv (with unreadable files). crops.csv records every crop (face box,
crop centre, side, angle), so predictions can be mapped back. Re-running skips finished files.
"""
import argparse
import csv
import logging
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2

from data_loader.face_crop import center_plan, face_plan
from data_loader.face_detection import build_detector
from data_loader.wrinkle import IMAGE_EXTS
from utils.config import parse_value
from utils.errors import USER_ERRORS, ConfigError, DataError
from utils.paths import atomic_path

log = logging.getLogger("facetrain")
FIELDS = ["file", "status", "faces", "face_x0", "face_y0", "face_x1", "face_y1", "crop_cx", "crop_cy", "crop_side",
          "angle", "out_side", "mask"]


def collect(root, image_dir="images", mask_dir="masks"):
    """(images, masks by image, other files) under root, as paths relative to it; hidden files skipped."""
    images, masks, other = [], {}, []
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    files = [f for f in files if not any(part.startswith(".") for part in f.parts)]
    by_stem = {}
    for f in files:
        if f.suffix.lower() in IMAGE_EXTS and mask_dir not in f.parts[:-1]:
            images.append(f)
            by_stem[(_swap(f.parent, image_dir, mask_dir), f.stem)] = f
    for f in files:
        if f.suffix.lower() in IMAGE_EXTS and mask_dir in f.parts[:-1]:
            image = by_stem.get((f.parent, f.stem))
            if image is None:
                other.append(f)  # a mask without an image: copied unchanged
            else:
                masks[image] = f
        elif f.suffix.lower() not in IMAGE_EXTS:
            other.append(f)
    return images, masks, other


def _swap(folder, image_dir, mask_dir):
    parts = list(folder.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == image_dir:
            parts[i] = mask_dir
            return Path(*parts)
    return Path(*parts) / mask_dir


def read_index(path):
    """{file: row} of crops.csv (the last row of a file wins)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f)}


def _write_atomic(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), array, params):
            raise DataError(f"could not write {path}")


def crop_one(src_root, out_root, rel, mask_rel, detector, args):
    """Crop one image (and its mask); returns its crops.csv row."""
    image = cv2.imread(str(src_root / rel), cv2.IMREAD_COLOR)
    if image is None:
        return {"file": str(rel), "status": "unreadable", "faces": 0}
    faces = detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    if faces:
        plan = face_plan(faces[0], args.margin, args.align, args.size)
    else:
        plan = center_plan(*image.shape[:2], args.center_crop, args.size)
    row = {"file": str(rel), "status": plan.kind, "faces": len(faces), "crop_cx": f"{plan.center[0]:.2f}",
           "crop_cy": f"{plan.center[1]:.2f}", "crop_side": f"{plan.side:.2f}", "angle": f"{plan.angle:.3f}",
           "out_side": plan.out_side, "mask": str(mask_rel) if mask_rel else ""}
    if faces:
        row.update({k: f"{v:.1f}" for k, v in zip(FIELDS[3:7], faces[0].box)})
    if mask_rel is not None:
        mask = cv2.imread(str(src_root / mask_rel), cv2.IMREAD_UNCHANGED)
        if mask is None:
            raise DataError(f"cannot read mask {src_root / mask_rel} (paired with {src_root / rel})")
        _write_atomic(out_root / mask_rel, plan.apply(mask, mask=True))
    _write_atomic(out_root / rel, plan.apply(image))  # the image last: its presence marks the file done
    return row


def crop_folder(src_root, out_root, detector, args):
    """Crop every image under src_root into out_root; returns a summary dict."""
    from logger.progress import Progress

    src_root, out_root = Path(src_root), Path(out_root)
    if out_root.resolve().is_relative_to(src_root.resolve()):
        raise ConfigError(f"--out {out_root} must not lie inside the input folder {src_root}")
    images, masks, other = collect(src_root, args.image_dir, args.mask_dir)
    out_root.mkdir(parents=True, exist_ok=True)
    for rel in other:
        if not (out_root / rel).exists():
            (out_root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src_root / rel, out_root / rel)
    index_path = out_root / "crops.csv"
    index = read_index(index_path)
    todo = [r for r in images if not _done(out_root, index.get(str(r)), r)]
    counts = {"face": 0, "fallback": 0, "unreadable": 0, "skipped": len(images) - len(todo)}
    new = not index_path.is_file()
    bar = Progress(len(todo), "faces", mode=args.progress, log_every=50)
    with open(index_path, "a", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        if new:
            writer.writeheader()
        for rel in todo:
            row = crop_one(src_root, out_root, rel, masks.get(rel), detector, args)
            writer.writerow(row)
            f.flush()
            index[row["file"]] = row
            counts[row["status"]] += 1
            bar.update(status=row["status"])
    bar.close()
    missing = [r for r in index.values() if r["status"] != "face"]
    with open(out_root / "faces_not_found.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["file", "status", "crop_cx", "crop_cy", "crop_side"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(missing)
    return {**counts, "images": len(images), "masks": len(masks), "copied": len(other), "not_found": len(missing)}


def _done(out_root, row, rel):
    if row is None or row["status"] == "unreadable" or not (out_root / rel).is_file():
        return False
    return not row.get("mask") or (out_root / row["mask"]).is_file()


def config_root(config, overrides):
    """The single data root of a config's datasets (built first, so the sample data exists)."""
    from trainer import build as B
    from utils.config import apply_overrides, load_config
    from utils.registry import import_builtins

    import_builtins()
    cfg = apply_overrides(load_config(config), overrides)
    roots = set()
    for split in ("train", "val", "test"):
        if split in cfg.get("data", {}):
            dataset = B.build_dataset(cfg, split)
            roots.add(Path(getattr(dataset, "root", None) or B.split_config(cfg, split)[0]["args"]["root"]).resolve())
    if len(roots) != 1:
        raise ConfigError(f"{config}: its splits read {len(roots)} data roots ({sorted(map(str, roots))}); "
                          "crop each with --input")
    return roots.pop()


def main(argv=None):
    p = argparse.ArgumentParser(description="Cache face crops of a folder or a dataset config.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help="folder of images (searched recursively)")
    src.add_argument("-c", "--config", help="a training config: crop its dataset's root")
    p.add_argument("-o", "--override", nargs="+", action="extend", default=[], help="config overrides (with --config)")
    p.add_argument("--out", required=True, help="output folder (mirrors the input's layout)")
    p.add_argument("--margin", type=float, default=0.4, help="added around the face box, as a fraction of it per side")
    p.add_argument("--size", type=int, help="output side in pixels (default: the crop's own resolution)")
    p.add_argument("--align", action="store_true", help="turn each face so the eyes lie level")
    p.add_argument("--center-crop", type=float, default=0.8, help="no face: centred square of this fraction of the "
                                                                   "shorter side")
    p.add_argument("--detector", default="LBPCascade", help="LBPCascade, HaarCascade (OpenCV 4.x) or MTCNN")
    p.add_argument("--detector-args", default="{}", help="detector arguments as YAML, e.g. '{min_size: 0.2}'")
    p.add_argument("--image-dir", default="images", help="folder name of images that have masks")
    p.add_argument("--mask-dir", default="masks", help="folder name of masks, paired with images by stem")
    p.add_argument("--progress", default="auto", choices=["auto", "bar", "log", "none"])
    args = p.parse_args(argv)

    from logger import setup_logging

    setup_logging()
    try:
        detector_args = parse_value(args.detector_args)
        if not isinstance(detector_args, dict):
            raise ConfigError(f"--detector-args: expected a mapping, got {args.detector_args!r}")
        detector = build_detector({"type": args.detector, "args": detector_args}, "--detector")
        if args.align and not getattr(detector, "landmarks", False):
            raise ConfigError(f"--align: {args.detector} finds no landmarks (eyes); use HaarCascade (OpenCV 4.x) or "
                              "MTCNN (pip install --no-deps facenet-pytorch)")
        if args.margin < 0 or (args.size is not None and args.size < 1):
            raise ConfigError("--margin must be >= 0 and --size >= 1")
        if not 0 < args.center_crop <= 1:  # checked before any file is written
            raise ConfigError(f"--center-crop: a fraction of the shorter side in (0, 1], got {args.center_crop}")
        root = config_root(args.config, args.override) if args.config else Path(args.input)
        if not root.is_dir():
            raise DataError(f"{root}: not a folder")
        summary = crop_folder(root, args.out, detector, args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    log.info(f"{summary['images']} images in {root}: {summary['face']} faces, {summary['fallback']} centre crops, "
             f"{summary['unreadable']} unreadable, {summary['skipped']} already done; {summary['masks']} masks")
    log.info(f"wrote {args.out} (crops.csv; {summary['not_found']} without a face in faces_not_found.csv)")
    if args.config:
        log.info(f"train on the faces: -o data.dataset.args.root={args.out}")
    return 1 if summary["unreadable"] else 0


if __name__ == "__main__":
    sys.exit(main())
