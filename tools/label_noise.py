"""Known label errors, to measure tools/find_label_errors.py: copy a data set with errors injected, and
score a ranked list against them.

    python tools/label_noise.py mask data/samples/mask_faces /tmp/noisy_mask --k 5
    python tools/label_noise.py clips data/samples/action/annotations/train.csv /tmp/noisy_train.csv --k 6
    python tools/label_noise.py segmentation data/samples/wrinkle /tmp/noisy_wrinkle --k 4
    python tools/label_noise.py score <kfold dir>/label_errors/persons.csv /tmp/noisy_mask/injected.csv

mask: k persons get the other gender in train.csv and k others their incorrect_mask and normal photos
(--swap) exchanged (files are linked, not copied; the source's own label_fix.csv, if any, counts as known
errors). clips: k clips of an annotation file (path,label) get another class. segmentation: k train
masks are erased and k get strokes drawn where there is no wrinkle. Each writes the known errors
(level person|file, key, head, given, true, source) as injected.csv in its output folder (clips:
<output stem>_injected.csv beside the output file), and refuses an output or truth file that exists.
`score` reports precision and recall of the top-n rows (default n: the number of known errors) of
issues.csv or persons.csv.
"""
import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np
import pandas as pd

from data_loader.tables import read_csv
from utils.cli import int_in
from utils.errors import USER_ERRORS, DataError

SWAP = ("incorrect_mask", "normal")


def link(src, dst):
    """A symbolic link to `src` (its parents made), or a copy where the file system allows no links."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        return
    try:
        os.symlink(Path(src).resolve(), dst)
    except OSError:
        shutil.copy2(src, dst)


def _abs(path):
    return os.path.abspath(path)  # links are kept: a dataset reads the linked path, not its target


def _fresh(out):
    out = Path(out)
    if out.exists():
        raise DataError(f"{out} already exists; give a new output path")
    return out


def inject_mask(root, out, k, seed=0, swap=SWAP):
    """A copy of a face-mask data root (links) with k gender flips and k persons whose two `swap`
    photos (default incorrect_mask and normal) are exchanged."""
    root, out = Path(root), _fresh(out)
    people = read_csv(root / "train" / "train.csv", ("id", "gender", "age", "path"), "train.csv").drop(columns="line")
    truth, known_paths = [], set()
    if (root / "label_fix.csv").is_file():  # the sample's own mislabels
        for fix in pd.read_csv(root / "label_fix.csv", dtype=str, keep_default_na=False).to_dict("records"):
            known_paths.add(fix["path"])
            for head, true in (("gender", fix.get("gender")), ("age", fix.get("age")), ("mask", fix.get("swap"))):
                if true:
                    truth.append(("person", fix["path"], head, "", true, "known"))
            for stem in fix.get("swap", "").split(",") if fix.get("swap") else ():
                photo = next(p for p in (root / "train" / "images" / fix["path"]).iterdir() if p.stem == stem.strip())
                truth.append(("file", _abs(out / "train" / "images" / fix["path"] / photo.name), "mask", stem, "",
                              "known"))
    free = [i for i in range(len(people)) if people["path"][i] not in known_paths]
    if 2 * k > len(free):
        raise DataError(f"--k {k}: needs {2 * k} persons besides the known errors; {root} has {len(free)}")
    picks = np.random.default_rng(seed).choice(free, 2 * k, replace=False)
    flips, swaps = picks[:k], set(picks[k:].tolist())
    for i in flips:
        true = people.at[i, "gender"].strip().lower()
        people.at[i, "gender"] = "male" if true == "female" else "female"
        truth.append(("person", people["path"][i], "gender", people["gender"][i], true, "injected"))
    images = root / "train" / "images"
    for i, person in enumerate(people["path"]):
        if i not in swaps:
            link(images / person, out / "train" / "images" / person)
            continue
        files = {p.stem: p for p in (images / person).iterdir() if not p.name.startswith(".")}
        for stem, path in files.items():
            target = files[swap[1 - swap.index(stem)]] if stem in swap else path
            link(target, out / "train" / "images" / person / path.name)
            if stem in swap:
                truth.append(("file", _abs(out / "train" / "images" / person / path.name), "mask", stem,
                              swap[1 - swap.index(stem)], "injected"))
        truth.append(("person", person, "mask", "", ",".join(swap), "injected"))
    people.to_csv(out / "train" / "train.csv", index=False)
    if (root / "eval").is_dir():
        link(root / "eval", out / "eval")
    return _write_truth(truth, out / "injected.csv")


def inject_clips(annotations, out, k, seed=0, root=None):
    """A copy of an annotation file (path,label) with k clips given another class; `root` is what its
    paths are relative to (default: the folder above the annotation file's, as in the sample)."""
    annotations, out = Path(annotations), _fresh(out)
    truth = _fresh(out.with_name(f"{out.stem}_injected.csv"))  # its own: another call's output keeps its truth
    root = Path(root) if root else annotations.resolve().parent.parent
    table = read_csv(annotations, ("path", "label"), "annotation file (path,label)").drop(columns="line")
    classes = sorted(set(table["label"]))
    if len(classes) < 2 or k > len(table):
        raise DataError(f"--k {k}: {annotations} has {len(table)} clip(s) of {len(classes)} class(es); relabelling "
                        "needs another class and at most as many clips as there are")
    rng = np.random.default_rng(seed)
    rows = []
    for i in rng.choice(len(table), k, replace=False):
        true = table.at[i, "label"]
        table.at[i, "label"] = rng.choice([c for c in classes if c != true])
        rows.append(("file", _abs(root / table["path"][i]), "class", table["label"][i], true, "injected"))
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    return _write_truth(rows, truth)


def inject_segmentation(root, out, k, seed=0):
    """A copy of a wrinkle data root (links) where k train masks are erased and k get false strokes."""
    root, out = Path(root), _fresh(out)
    if not (root / "train" / "masks").is_dir():
        raise DataError(f"{root} is no wrinkle data root: expected {root}/train/images/ and {root}/train/masks/")
    for split in (p for p in root.iterdir() if p.is_dir() and p.name != "train"):
        link(split, out / split.name)
    masks = sorted(p for p in (root / "train" / "masks").iterdir() if p.suffix == ".png")
    images = {p.stem: p for p in (root / "train" / "images").iterdir() if not p.name.startswith(".")}
    if 2 * k > len(masks):
        raise DataError(f"--k {k}: needs {2 * k} train masks; {root / 'train' / 'masks'} has {len(masks)}")
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(masks), 2 * k, replace=False)
    kind = {int(i): ("erased" if j < k else "false strokes") for j, i in enumerate(picks)}
    truth = []
    for i, mask_path in enumerate(masks):
        image = images[mask_path.stem]
        link(image, out / "train" / "images" / image.name)
        dst = out / "train" / "masks" / mask_path.name
        if i not in kind:
            link(mask_path, dst)
            continue
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        if kind[i] == "erased":
            mask[:] = 0
        else:
            h, w = mask.shape
            for _ in range(3):  # wrinkle-like strokes across the face
                x, y = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.8) * h
                angle, length = rng.uniform(0, np.pi), rng.uniform(0.12, 0.2) * w
                dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
                cv2.line(mask, (int(x - dx), int(y - dy)), (int(x + dx), int(y + dy)), 255, 2)
        dst.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(dst), mask)
        truth.append(("file", _abs(out / "train" / "images" / image.name), "segmentation", kind[i], "", "injected"))
    return _write_truth(truth, out / "injected.csv")


def _write_truth(rows, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["level", "key", "head", "given", "true", "source"]).to_csv(path, index=False)
    return path


def score(ranked, truth, n=None, head=None):
    """Precision and recall of the top-n rows of a ranked issues.csv (files) or persons.csv (persons),
    of one head's rows when `head` is given."""
    if not isinstance(ranked, pd.DataFrame):
        ranked = read_csv(ranked, ("head",), "ranked list (find_label_errors' issues.csv or persons.csv)")
    if not isinstance(truth, pd.DataFrame):
        truth = read_csv(truth, ("level", "key", "head"), "known errors (label_noise.py's injected.csv)")
    level = "person" if "person" in ranked.columns and "sample" not in ranked.columns else "file"
    if level not in ranked.columns:
        raise DataError("the ranked list has neither a person nor a file column; give find_label_errors' "
                        "issues.csv or persons.csv")
    truth = truth[truth["level"] == level]
    if head is not None:
        ranked, truth = ranked[ranked["head"] == head].reset_index(drop=True), truth[truth["head"] == head]
    keys = ranked["person"] if level == "person" else ranked["file"].map(_abs)
    wanted = set(zip(truth["key"] if level == "person" else truth["key"].map(_abs), truth["head"]))
    n = len(wanted) if n is None else n
    if not wanted:
        raise DataError(f"no {level}-level errors in the truth file to score a {level} list against")
    found = sum((k, h) in wanted for k, h in zip(keys[:n], ranked["head"][:n]))
    return {"level": level, "n": n, "errors": len(wanted), "found": found,
            "precision": found / n, "recall": found / len(wanted)}


def main(argv=None):
    p = argparse.ArgumentParser(description="Inject known label errors into a copy of a data set, or score a "
                                            "find_label_errors list against them.")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, what in (("mask", "face-mask data root"), ("clips", "annotation file (path,label)"),
                       ("segmentation", "wrinkle data root")):
        q = sub.add_parser(name, help=f"copy a {what} with errors injected")
        q.add_argument("source")
        q.add_argument("out")
        q.add_argument("--k", type=int_in(1), default=5, help="errors of each kind")
        q.add_argument("--seed", type=int, default=0)
        if name == "clips":
            q.add_argument("--root", help="what the file's paths are relative to (default: the folder above its own)")
        if name == "mask":
            q.add_argument("--swap", default=",".join(SWAP), help="the two photos exchanged")
    q = sub.add_parser("score", help="precision / recall of a ranked list's top n")
    q.add_argument("ranked", help="issues.csv or persons.csv from tools/find_label_errors.py")
    q.add_argument("truth", help="injected.csv")
    q.add_argument("--n", type=int_in(1), help="list length (default: the number of errors)")
    q.add_argument("--head", help="score this head's rows alone")
    args = p.parse_args(argv)
    try:
        if args.cmd == "score":
            print(json.dumps(score(args.ranked, args.truth, args.n, args.head)))
            return 0
        inject = {"mask": inject_mask, "clips": inject_clips, "segmentation": inject_segmentation}[args.cmd]
        extra = {"root": args.root} if args.cmd == "clips" else {}
        if args.cmd == "mask":
            extra = {"swap": tuple(s.strip() for s in args.swap.split(","))}
        print(f"wrote {inject(args.source, args.out, args.k, args.seed, **extra)}")
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
