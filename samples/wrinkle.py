"""Synthetic facial-wrinkle segmentation dataset.

Renders aligned, skin-textured faces with thin dark wrinkle curves drawn only inside
fixed face regions (``FACE_REGIONS``), plus dark distractors that are *not* wrinkles
(eyes, brows, nostrils, lips, moles, hair), and writes them in the real on-disk layout::

    <root>/{train,val,test}/images/<stem>.jpg   (about 1 in 4 as .png)
    <root>/{train,val,test}/masks/<stem>.png    uint8, wrinkle = 255, background = 0

CLI: ``python -m samples.wrinkle --out data/samples/wrinkle``
"""
import os
import pathlib
import shutil
import sys
import tempfile

import cv2
import numpy as np

from . import generator_cli

SAMPLE_ROOT = "data/samples/wrinkle"

# Canonical face frame: x, y normalized by image width / height. Every face is drawn at
# this position up to a small per-image jitter (<= 2% shift, <= 3% scale).
FACE_CENTER = (0.5, 0.52)
FACE_AXES = (0.37, 0.43)  # face ellipse semi-axes

# Normalized (x0, y0, x1, y1) boxes where wrinkles are drawn ("left" = image left).
FACE_REGIONS = {
    "forehead": (0.30, 0.17, 0.70, 0.30),
    "left_crows_feet": (0.15, 0.39, 0.29, 0.52),
    "right_crows_feet": (0.71, 0.39, 0.85, 0.52),
    "left_nasolabial": (0.33, 0.58, 0.43, 0.80),
    "right_nasolabial": (0.57, 0.58, 0.67, 0.80),
    "left_cheek": (0.18, 0.53, 0.31, 0.68),
    "right_cheek": (0.69, 0.53, 0.82, 0.68),
}

SPLITS = ("train", "val", "test")
# BGR skin palette, light -> dark
_SKIN_TONES = np.array([[195, 210, 245], [130, 165, 215], [85, 125, 175], [50, 75, 115]], np.float32)


# ----------------------------------------------------------------------------- helpers
def _bezier(p0, ctrl, p1, n=24):
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * np.asarray(p0) + 2 * (1 - t) * t * np.asarray(ctrl) + t**2 * np.asarray(p1)


def _curve(rng, p0, p1, bow, wobble=0.002, n=24):
    """Quadratic curve p0 -> p1 bowed by `bow` along the normal, plus a smooth wobble (normalized units)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    normal = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-9)
    pts = _bezier(p0, (p0 + p1) / 2 + bow * normal, p1, n)
    t = np.linspace(0.0, 1.0, n)[:, None]
    f, ph = rng.uniform(1.0, 3.5, 2), rng.uniform(0, 2 * np.pi, 2)
    off = np.sin(2 * np.pi * f[0] * t + ph[0]) + 0.5 * np.sin(2 * np.pi * f[1] * t + ph[1])
    return pts + wobble * off * normal


def _mirror(pts):
    pts = np.array(pts, float)
    pts[..., 0] = 1.0 - pts[..., 0]
    return pts


def _poly(img, pts, value, thickness, closed=False):
    # 4 fractional bits keep curves smooth; LINE_8 so image and mask get identical pixels.
    p = np.round(np.asarray(pts) * 16).astype(np.int32)
    if thickness < 0:
        cv2.fillPoly(img, [p], value, cv2.LINE_8, shift=4)
    else:
        cv2.polylines(img, [p], closed, value, int(thickness), cv2.LINE_8, shift=4)


def _smooth_noise(rng, h, w, cells):
    """Low-frequency noise (~unit std): a random grid upsampled with bicubic interpolation."""
    g = rng.standard_normal((cells, max(2, cells * w // h))).astype(np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def _blur(a, sigma):
    return cv2.GaussianBlur(a, (0, 0), sigma)


def _bbox(alpha):  # features are small: only touch the pixels they cover (3x faster overall)
    x, y, w, h = cv2.boundingRect((alpha > 1e-3).astype(np.uint8))
    return np.s_[y:y + h, x:x + w]


def _blend(img, alpha, color):
    """img <- img * (1 - alpha) + color * alpha, alpha HxW in [0, 1]."""
    sl = _bbox(alpha)
    img[sl] += alpha[sl][..., None] * (np.asarray(color, np.float32) - img[sl])


def _darken(img, alpha):
    """img <- img * (1 - alpha)."""
    sl = _bbox(alpha)
    img[sl] *= 1 - alpha[sl][..., None]


# ----------------------------------------------------------------------------- rendering
def render_face(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One sample: (BGR uint8 image HxWx3, uint8 mask HxW with values 0/1)."""
    h, w = int(height), int(width)
    s = 1 + rng.uniform(-0.03, 0.03)
    shift = rng.uniform(-0.02, 0.02, 2)

    def px(pts):  # canonical normalized -> pixel coordinates (with this image's jitter)
        p = (np.asarray(pts, float) - FACE_CENTER) * s + FACE_CENTER + shift
        return p * (w, h)

    def ellipse_alpha(center, axes, angle=0.0, soft=1.0):
        m = np.zeros((h, w), np.float32)
        c, a = px(center), np.asarray(axes) * s * (w, h)
        cv2.ellipse(m, (c * 16).round().astype(int).tolist(), (a * 16).round().astype(int).tolist(),
                    angle, 0, 360, 1.0, -1, cv2.LINE_AA, 4)
        return _blur(m, soft) if soft else m

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # float32 scalars: float64 ones would silently promote every full-image map (2x slower)
    fc, fa = np.float32(px(FACE_CENTER)), np.float32(np.asarray(FACE_AXES) * s * (w, h))
    r2 = ((xx - fc[0]) / fa[0]) ** 2 + ((yy - fc[1]) / fa[1]) ** 2  # <1 inside the face ellipse

    # Skin tone (light..dark) and a background colour clearly different from it.
    tone = rng.uniform(0, 3)  # position along the light -> dark palette
    skin = np.array([np.interp(tone, range(4), ch) for ch in _SKIN_TONES.T], np.float32)
    skin += rng.normal(0, 6, 3).astype(np.float32)
    for _ in range(20):
        hsv = np.uint8([[[rng.integers(0, 180), rng.integers(30, 160), rng.integers(50, 240)]]])
        bg = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)
        if np.linalg.norm(bg - skin) > 80:
            break
    bg2 = np.clip(bg * rng.uniform(0.6, 1.3), 0, 255)
    g = (yy / h)[..., None]
    img = bg * (1 - g) + bg2 * g
    img += 12 * _smooth_noise(rng, h, w, 4)[..., None]

    # Hair cap behind the face (optional), then neck and ears, then the face itself.
    # Black/brown hair, sometimes lighter brown/blond (always R >= G >= B).
    hair_col = rng.uniform(20, 70) * np.array([0.55, 0.75, 1.0], np.float32)
    if rng.random() < 0.25:
        hair_col *= rng.uniform(1.5, 3)
    has_hair = rng.random() < 0.85
    if has_hair:
        _blend(img, ellipse_alpha((0.5, 0.45), (0.41, 0.40)), hair_col)
    face_a = ellipse_alpha(FACE_CENTER, FACE_AXES)
    neck = np.zeros((h, w), np.float32)
    _poly(neck, px([[0.38, 0.8], [0.62, 0.8], [0.66, 1.02], [0.34, 1.02]]), 1.0, -1)
    ears = ellipse_alpha((0.13, 0.47), (0.04, 0.07)) + ellipse_alpha((0.87, 0.47), (0.04, 0.07))
    body_a = np.clip(_blur(neck, 1.5) + ears, 0, 1)
    fringe = np.zeros((h, w), np.float32)
    if has_hair:  # the top of the face ellipse is covered by hair
        line = 0.11 + rng.uniform(-0.015, 0.025) + 0.06 * (np.linspace(-1, 1, 9) ** 2)
        hl = px(np.c_[np.linspace(0.1, 0.9, 9), line])
        _poly(fringe, np.vstack([hl, [[hl[-1, 0], 0], [hl[0, 0], 0]]]), 1.0, -1)
        fringe = _blur(fringe, 1.5)
    skin_all = np.maximum(face_a, body_a) * (1 - fringe)

    # Skin: tone * shading * texture (blotches, mottling, fine grain, pores).
    theta, k = rng.uniform(0, 2 * np.pi), rng.uniform(0.05, 0.25)
    shade = 1 + k * (np.cos(theta) * (xx - fc[0]) / fa[0] + np.sin(theta) * (yy - fc[1]) / fa[1])
    shade *= 1 - 0.25 * np.clip(r2, 0, 1.3) ** 2  # rounder look: darker towards the rim
    rough = rng.uniform(0.5, 1.5)
    tex = (0.04 * _smooth_noise(rng, h, w, 6) + 0.025 * _smooth_noise(rng, h, w, 30)
           + rough * 0.02 * _blur(rng.standard_normal((h, w)).astype(np.float32), 0.8))
    pores = _blur((rng.random((h, w)) < 0.012 * rough).astype(np.float32), 0.7)
    tex -= 0.25 * pores
    skin_img = skin * (shade * (1 + tex))[..., None]
    skin_img[body_a > face_a] *= 0.85  # neck / ears slightly in shadow
    a = skin_all[..., None]
    img = (img * (1 - a) + skin_img * a).astype(np.float32)

    # Hair strands at the temples (thin dark curves that are NOT wrinkles).
    if has_hair:
        for _ in range(rng.integers(0, 4)):
            x0 = rng.uniform(0.16, 0.26)
            x1, y1 = x0 + rng.uniform(-0.04, 0.04), rng.uniform(0.22, 0.36)
            p = _curve(rng, (x0, 0.12), (x1, y1), rng.uniform(-0.03, 0.03))
            p = p if rng.random() < 0.5 else _mirror(p)
            _poly(img, px(p), (hair_col * 0.8).tolist(), int(rng.integers(1, 3)))

    # Facial features: eye-socket shadows, eyes, brows, nose, mouth (dark distractors).
    feat = np.zeros((h, w), np.float32)  # darkening map
    for side in (0, 1):
        m = (lambda p: p) if side == 0 else _mirror
        e = m([[0.36, 0.44]])[0]
        feat += 0.15 * ellipse_alpha(e, (0.09, 0.045), soft=5)  # socket shadow
        # eyebrow: thick blurred arc in hair colour
        brow = np.zeros((h, w), np.float32)
        bp = m(_bezier((0.44, 0.375), (0.36, 0.335), (0.27, 0.37), 12))
        _poly(brow, px(bp), 1.0, max(3, int(0.022 * h * s)))
        _blend(img, _blur(brow, 1.5) * rng.uniform(0.6, 0.9), hair_col)
    _darken(img, feat)
    for side in (0, 1):
        m = (lambda p: p) if side == 0 else _mirror
        inner, outer = m([[0.425, 0.445]])[0], m([[0.295, 0.44]])[0]
        top = _bezier(inner, m([[0.36, 0.405]])[0], outer, 12)
        bot = _bezier(outer, m([[0.36, 0.47]])[0], inner, 12)
        eye = np.zeros((h, w), np.float32)
        _poly(eye, px(np.vstack([top, bot])), 1.0, -1)
        eye = _blur(eye, 0.8)
        _blend(img, eye, np.array([200, 210, 215], np.float32) * rng.uniform(0.8, 1.0))
        iris = ellipse_alpha(m([[0.36 + rng.uniform(-0.01, 0.01), 0.44]])[0], (0.022, 0.022), soft=0.8) * eye
        _blend(img, iris, rng.choice([[30, 50, 80], [90, 70, 40], [60, 90, 60]]))
        _blend(img, ellipse_alpha(m([[0.36, 0.44]])[0], (0.009, 0.009), soft=0.8) * eye, (15, 15, 15))
        lid = np.zeros((h, w), np.float32)  # lashes along the upper lid + soft crease above it
        _poly(lid, px(top), 1.0, 2)
        _blend(img, _blur(lid, 0.7) * 0.8, (20, 20, 25))
        crease = np.zeros((h, w), np.float32)
        _poly(crease, px(m(_bezier((0.42, 0.425), (0.36, 0.385), (0.30, 0.425), 12))), 1.0, 2)
        _darken(img, 0.2 * _blur(crease, 1.5))
        # nostril + soft shadow of the nose wing
        nos = ellipse_alpha(m([[0.465, 0.625]])[0], (0.017, 0.009), soft=1.0)
        _darken(img, 0.6 * nos)
        wing = np.zeros((h, w), np.float32)
        _poly(wing, px(m(_bezier((0.47, 0.58), (0.42, 0.6), (0.45, 0.635), 10))), 1.0, 3)
        _darken(img, 0.25 * _blur(wing, 2.5))
    # mouth: lips in a darker, redder skin tone, with a thin dark line between them
    smile = rng.uniform(-0.012, 0.012)
    mx = 0.5 + rng.uniform(-0.005, 0.005)
    l_c, r_c = (mx - 0.09, 0.75 - smile), (mx + 0.09, 0.75 - smile)
    upper = np.vstack([_bezier(l_c, (mx - 0.04, 0.725), (mx, 0.735), 10),  # cupid's bow
                       _bezier((mx, 0.735), (mx + 0.04, 0.725), r_c, 10)])
    lower = _bezier(r_c, (mx, 0.79 + rng.uniform(0, 0.01)), l_c, 12)
    lips = np.zeros((h, w), np.float32)
    _poly(lips, px(np.vstack([upper, lower])), 1.0, -1)
    lip_col = skin * np.array([0.7, 0.65, 1.0]) * rng.uniform(0.65, 0.85)
    _blend(img, _blur(lips, 1.0) * 0.85, lip_col)
    mline = np.zeros((h, w), np.float32)
    _poly(mline, px(_bezier(l_c, (mx, 0.752 + smile), r_c, 16)), 1.0, 2)
    _darken(img, 0.55 * _blur(mline, 0.8))
    # moles / blemishes: round dark spots anywhere on the face, wrinkle regions included
    for _ in range(rng.integers(0, 5)):
        ang, rad = rng.uniform(0, 2 * np.pi), np.sqrt(rng.uniform(0, 0.7))
        c = np.add(FACE_CENTER, rad * np.multiply(FACE_AXES, (np.cos(ang), np.sin(ang))))
        r = rng.uniform(0.004, 0.012)
        _darken(img, rng.uniform(0.3, 0.6) * ellipse_alpha(c, (r, r * w / h), soft=0.8))

    # Wrinkles: same polyline on `depth` (darkening) and on the mask; only the image gets blurred.
    mask = np.zeros((h, w), np.uint8)
    depth = np.zeros((h, w), np.float32)
    age = rng.uniform(0, 1) ** 0.6  # some faces have few wrinkles

    def wrinkle(pts, region, thick, contrast=None):
        x0, y0, x1, y1 = FACE_REGIONS[region]
        p = px(np.clip(pts, (x0, y0), (x1, y1)))
        c = rng.uniform(0.25, 0.5) if contrast is None else contrast
        lo = max(1, thick - 1)  # taper: thinner ends, full thickness in the middle
        n = len(p) // 5
        for img_, v in ((mask, 1), (depth, c)):
            _poly(img_, p, v, lo)
            if thick > lo:
                _poly(img_, p[n:-n], v, thick)

    x0, y0, x1, y1 = FACE_REGIONS["forehead"]
    k = rng.binomial(6, age)
    for j in range(k):  # horizontal, gently arched, stacked in bands
        y = y0 + (y1 - y0) * (j + rng.uniform(0.25, 0.75)) / k
        ln = rng.uniform(0.4, 1.0) * (x1 - x0)
        xc = rng.uniform(x0 + ln / 2, x1 - ln / 2)
        bow, wobble = -rng.uniform(0.0, 0.025), rng.uniform(0.001, 0.003)
        pts = _curve(rng, (xc - ln / 2, y), (xc + ln / 2, y), bow, wobble)
        wrinkle(pts, "forehead", int(rng.choice([1, 2, 2, 3])))
    for side, name in ((0, "left"), (1, "right")):
        m = (lambda p: p) if side == 0 else _mirror
        k = rng.binomial(5, age)  # crow's feet: short curves fanning out of the outer eye corner
        angs = np.linspace(-30, 30, k) + rng.uniform(-7, 7, k) if k > 1 else rng.uniform(-20, 20, k)
        for a in np.deg2rad(angs):
            d = np.array([-np.cos(a), np.sin(a) * w / h])
            p0 = np.array([0.285, 0.44]) + d * rng.uniform(0.005, 0.02)
            pts = _curve(rng, p0, p0 + d * rng.uniform(0.05, 0.11), rng.uniform(-0.01, 0.01), 0.0015, 16)
            wrinkle(m(pts), f"{name}_crows_feet", int(rng.choice([1, 2, 2])))
        if rng.random() < 0.3 + 0.7 * age:  # nasolabial fold: nose wing -> outside the mouth corner
            p0 = (0.415 + rng.uniform(-0.01, 0.01), 0.595 + rng.uniform(-0.01, 0.01))
            p1 = (0.375 + rng.uniform(-0.02, 0.01), rng.uniform(0.74, 0.79))
            pts = _curve(rng, p0, p1, rng.uniform(0.005, 0.025), 0.0015, 24)
            wrinkle(m(pts), f"{name}_nasolabial", int(rng.choice([2, 2, 3])), rng.uniform(0.25, 0.45))
        x0, y0, x1, y1 = FACE_REGIONS["left_cheek"]  # drawn on the left, then mirrored like the rest
        for _ in range(rng.binomial(4, 0.8 * age)):  # fine, roughly vertical cheek lines
            a = np.deg2rad(rng.uniform(-40, 40))
            ln = rng.uniform(0.03, 0.08)
            p0 = np.array([rng.uniform(x0 + 0.02, x1 - 0.02), rng.uniform(y0, y1 - ln)])
            p1 = p0 + ln * np.array([np.sin(a) * h / w, np.cos(a)])
            pts = _curve(rng, p0, p1, rng.uniform(-0.008, 0.008), 0.001, 12)
            wrinkle(m(pts), f"{name}_cheek", int(rng.choice([1, 1, 2])), rng.uniform(0.2, 0.4))

    inside = face_a * (1 - fringe) > 0.99  # never label pixels outside the bare face (hair, edge)
    mask &= inside
    depth *= inside
    _darken(img, _blur(depth, rng.uniform(0.5, 0.8)))

    # Camera: colour cast, exposure, sensor noise.
    img *= rng.uniform(0.9, 1.1, 3) * rng.uniform(0.85, 1.15)
    img += rng.normal(0, rng.uniform(1, 3), img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def _image_size(rng):
    """Portrait sizes, never a multiple of 32 on either side (the framework must pad/crop)."""
    while True:
        h, w = int(rng.integers(300, 361)), int(rng.integers(270, 331))
        if h % 32 and w % 32:
            return h, w


# ----------------------------------------------------------------------------- writing
def write_wrinkle_dataset(root, counts, render, seed=0, progress=True, desc="wrinkle samples") -> pathlib.Path:
    """Write `counts` (train, val, test) samples of `render(rng, split) -> (BGR image, 0/1 mask)` as
    images (about 1 in 4 .png, else .jpg) and 0/255 masks, atomically (built in a sibling temp dir,
    then renamed to root); return root. Each image has its own seed, so it does not depend on counts."""
    root = pathlib.Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ValueError(f"{root} already exists and is not empty; refusing to overwrite it")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    jobs = [(si, split, i) for si, (split, n) in enumerate(zip(SPLITS, counts)) for i in range(n)]
    if progress:
        try:
            from tqdm import tqdm
            jobs = tqdm(jobs, desc=desc, unit="img")
        except ImportError:
            pass
    try:
        for split in SPLITS:
            for sub in ("images", "masks"):
                (tmp / split / sub).mkdir(parents=True)
        for si, split, i in jobs:
            rng = np.random.default_rng([seed, si, i])
            image, mask = render(rng, split)
            stem = f"{split}_{i:04d}"
            ext = ".png" if rng.random() < 0.25 else ".jpg"
            params = [cv2.IMWRITE_JPEG_QUALITY, 92] if ext == ".jpg" else []
            ok = cv2.imwrite(str(tmp / split / "images" / (stem + ext)), image, params)
            ok &= cv2.imwrite(str(tmp / split / "masks" / (stem + ".png")), mask * 255)
            if not ok:
                raise OSError(f"could not write sample {stem} under {tmp}")
        tmp.chmod(0o755)  # mkdtemp makes it owner-only
        if root.exists():
            root.rmdir()  # empty dir: renaming onto it is not portable
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def generate_wrinkle_dataset(root, n_train=48, n_val=12, n_test=12, seed=0, progress=True) -> pathlib.Path:
    """The drawn-face sample set at root (see the module docstring)."""
    return write_wrinkle_dataset(root, (n_train, n_val, n_test), lambda rng, _: render_face(rng, *_image_size(rng)),
                                 seed, progress)


def describe(root):
    """Print each split's image count, formats and mean wrinkle-pixel fraction."""
    root = pathlib.Path(root)
    for split in SPLITS:
        imgs = sorted((root / split / "images").iterdir())
        masks = (root / split / "masks").iterdir()
        fracs = [(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) > 0).mean() for p in masks]
        n_png = sum(p.suffix == ".png" for p in imgs)
        mean = f"{100 * np.mean(fracs):.2f}%" if fracs else "-"
        print(f"  {split:5s}: {len(imgs):3d} images ({len(imgs) - n_png} jpg, {n_png} png), "
              f"masks in {split}/masks, mean wrinkle pixels {mean}")


def main(argv=None, generate=None, default_out=SAMPLE_ROOT, what="the synthetic facial-wrinkle sample dataset"):
    """The CLI of this module and of wrinkle_photos.py (`generate` defaults to generate_wrinkle_dataset)."""
    root, seed, seconds = generator_cli(argv, generate or generate_wrinkle_dataset, what, default_out, (48, 12, 12))
    print(f"wrote {root} in {seconds:.1f}s (seed {seed})")
    describe(root)


if __name__ == "__main__":
    sys.exit(main())
