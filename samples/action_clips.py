"""Synthetic surveillance clips whose classes differ in motion, in the real on-disk layouts.

A stick figure in one of a few fixed camera scenes. Every class draws the same figure from the same
distributions of colour, size and position; only what it does over time differs:

    fall        stands, then tips over sideways and lies on the ground
    walk_left   walks to the left        } same appearance, opposite motion: no single
    walk_right  walks to the right       } frame tells these two apart
    stand       stands still (slight sway)
    appear      the scene is empty, then the figure fades in

Written as (root = data/samples/action by default):

    <root>/videos/<split>/<class>/<clip>.mp4     MPEG-4 (every 4th clip .avi, Motion-JPEG)
    <root>/frames/<split>/<class>/<clip>/frame_<n>.jpg   n = 1, 2, ... unpadded (numeric order matters)
    <root>/annotations/<split>.csv               path,label  (paths relative to <root>)

Events happen between frames 4 and 14, so every 16-frame window of a 20-24 frame clip sees them.
CLI: python -m samples.action_clips --out data/samples/action
"""
import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from . import generator_cli

SAMPLE_ROOT = "data/samples/action"
CLASSES = ("fall", "walk_left", "walk_right", "stand", "appear")
SPLITS = ("train", "val", "test")
LAYOUTS = ("videos", "frames", "annotations")
HEIGHT, WIDTH, FPS = 64, 80, 8
SCENES = 4  # camera views; every class is filmed in each


# ----------------------------------------------------------------------------- drawing
def _figure_points(leg, body, spread, arm):
    """Stick figure in local coordinates: feet at the origin, up is -y."""
    hip, neck = np.array([0.0, -leg]), np.array([0.0, -leg - body])
    return {"legs": [(hip, np.array([spread, 0.0])), (hip, np.array([-spread, 0.0]))],
            "body": [(hip, neck)],
            "arms": [(neck + (0, 0.25 * body), neck + (arm, 0.75 * body)),
                     (neck + (0, 0.25 * body), neck + (-arm, 0.75 * body))],
            "head": neck + (0, -0.3 * body)}


def _draw_figure(layer, feet, angle, leg, body, spread, arm, thick):
    """Draw onto a float mask (1 = figure), rotated by `angle` radians about the feet."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])

    def px(p):
        return tuple(int(round(v * 16)) for v in rot @ np.asarray(p, float) + feet)

    pts = _figure_points(leg, body, spread, arm)
    for a, b in pts["legs"] + pts["body"] + pts["arms"]:
        cv2.line(layer, px(a), px(b), 1.0, thick, cv2.LINE_AA, 4)
    cv2.circle(layer, px(pts["head"]), int(round(0.3 * body * 16)), 1.0, -1, cv2.LINE_AA, 4)


def _scene(index, h, w):
    """One of SCENES fixed camera views (wall, floor, texture), shared by every class."""
    rng = np.random.default_rng([1000, index])
    base = rng.uniform(60, 190, 3)
    grid = rng.standard_normal((4, 5, 3)).astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    img[int(h * rng.uniform(0.72, 0.8)):] *= rng.uniform(0.7, 0.9)  # a floor, darker than the wall
    return img + cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) * 8


def _background(rng, h, w):
    """A camera scene under this clip's lighting."""
    return _scene(int(rng.integers(SCENES)), h, w) * rng.uniform(0.85, 1.15) + rng.normal(0, 5, 3)


def _figure_colour(rng, background):
    for _ in range(50):
        colour = rng.uniform(0, 255, 3)
        if abs(colour.mean() - background.mean()) > 60:
            return colour
    return 255 - background.mean(axis=(0, 1))


def render_clip(rng, label, num_frames, height=HEIGHT, width=WIDTH):
    """(num_frames, H, W, 3) RGB uint8 frames of one clip of class `label`."""
    h, w = height, width
    bg = _background(rng, h, w)
    colour = _figure_colour(rng, bg)
    scale = rng.uniform(0.85, 1.15) * h / 64
    leg, body, arm = 13 * scale, 12 * scale, 5 * scale
    thick = max(1, int(round(3 * scale)))
    feet_y = h * rng.uniform(0.78, 0.86)
    # Inside every 16-frame window: a fall ends (lying figure) by frame 12, a figure appears at 9-12.
    low, high = (max(num_frames - 16, 4), 10) if label == "fall" else (max(num_frames - 15, 6), 13)
    event = int(rng.integers(low, high))
    phase, gait = rng.uniform(0, 2 * np.pi), rng.uniform(0.7, 1.1)  # walking: radians per frame
    speed = rng.uniform(1.2, 2.0) * w / 80  # pixels per frame
    travel = speed * (num_frames - 1)
    margin = 10 * scale
    if label in ("walk_left", "walk_right"):  # the path is centred at x; same x range for both directions
        x = rng.uniform(margin + travel / 2, w - margin - travel / 2)
    else:
        x = rng.uniform(margin + 8 * scale, w - margin - 8 * scale)
    fall_dir = 1.0 if x < w / 2 else -1.0  # towards the middle: the lying figure stays in view
    sway = rng.uniform(0, 2 * np.pi)
    frames = []
    for t in range(num_frames):
        fx, angle, spread, alpha, arm_t = x, 0.0, 1.0 * scale, 1.0, 1.5 * scale
        if label in ("walk_left", "walk_right"):
            step = speed * t - travel / 2
            fx = x + (step if label == "walk_right" else -step)
            swing = np.sin(phase + gait * t)
            spread, arm_t = 5 * scale * swing, arm * swing  # legs and arms swing symmetrically
        elif label == "fall":
            progress = np.clip((t - event) / 3, 0, 1)  # tips over in 3 frames, then lies still
            angle = fall_dir * progress * np.pi / 2
        elif label == "stand":
            fx = x + 0.6 * scale * np.sin(sway + 0.5 * t)
        elif label == "appear":
            alpha = np.clip((t - event + 1) / 3, 0, 1)  # absent, then fades in over 3 frames
        layer = np.zeros((h, w), np.float32)
        if alpha > 0:
            _draw_figure(layer, np.array([fx, feet_y]), angle, leg, body, spread, arm_t, thick)
        a = (alpha * layer)[..., None]
        frame = bg * (1 - a) + colour * a + rng.normal(0, 3, (h, w, 3))
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


# ----------------------------------------------------------------------------- writing
def write_video(path, frames, fps=FPS):
    """MPEG-4 in .mp4, Motion-JPEG in .avi, through PyAV (deterministic: one encoder thread)."""
    import av

    codec, pix_fmt = ("mjpeg", "yuvj420p") if Path(path).suffix == ".avi" else ("mpeg4", "yuv420p")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        stream.thread_count = 1
        stream.bit_rate = 2_000_000  # near-lossless at this size
        stream.codec_context.gop_size = 12
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_frames(folder, frames):
    folder.mkdir(parents=True)
    for n, frame in enumerate(frames, 1):
        if not cv2.imwrite(str(folder / f"frame_{n}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f"could not write {folder / f'frame_{n}.jpg'}")


def write_clip_dataset(root, classes, render, counts, seed=0, frames=(20, 24), progress=True,
                       desc="action sample clips"):
    """Write `counts` (train, val, test) clips per class of `render(rng, split, label, num_frames) ->
    (T, H, W, 3) RGB uint8` in every layout (videos/, frames/, annotations/); layouts already present
    are kept. Each clip has its own seed, so it does not depend on the counts.

    Built in a temporary sibling folder, then each missing layout is renamed into place, so
    an interrupted run leaves nothing half-written.
    """
    root = Path(root)
    missing = [layout for layout in LAYOUTS if not (root / layout).exists()]
    if not missing:
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    jobs = [(si, split, ci, label, i) for si, (split, n) in enumerate(zip(SPLITS, counts))
            for ci, label in enumerate(classes) for i in range(n)]
    if progress:
        from tqdm import tqdm

        jobs = tqdm(jobs, desc=desc, unit="clip")
    try:
        rows = {split: [] for split in SPLITS}
        for si, split, ci, label, i in jobs:
            rng = np.random.default_rng([seed, si, ci, i])
            clip = render(rng, split, label, int(rng.integers(frames[0], frames[1] + 1)))
            name = f"{label}_{i:04d}"
            video = Path("videos") / split / label / (name + (".avi" if i % 4 == 1 else ".mp4"))
            (tmp / video).parent.mkdir(parents=True, exist_ok=True)
            write_video(tmp / video, clip)
            write_frames(tmp / "frames" / split / label / name, clip)
            rows[split].append((video.as_posix(), label))
        (tmp / "annotations").mkdir()
        for split, items in rows.items():
            with open(tmp / "annotations" / f"{split}.csv", "w", newline="") as f:
                csv.writer(f).writerows([("path", "label"), *items])
        root.mkdir(exist_ok=True)
        for layout in missing:
            os.replace(tmp / layout, root / layout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def generate_action_dataset(root=SAMPLE_ROOT, n_train=24, n_val=8, n_test=8, seed=0, frames=(20, 24),
                            progress=True):
    """Write the stick-figure clips (n_* per class and split) with write_clip_dataset."""
    return write_clip_dataset(root, CLASSES, lambda rng, _, label, n: render_clip(rng, label, n),
                              (n_train, n_val, n_test), seed, frames, progress)


def main(argv=None, generate=None, default_out=SAMPLE_ROOT, what="the synthetic action-recognition sample clips",
         classes=CLASSES):
    """The CLI of this module and of action_footage.py (`generate` defaults to generate_action_dataset)."""
    root, seed, seconds = generator_cli(argv, generate or generate_action_dataset, what, default_out, (24, 8, 8))
    print(f"wrote {root} in {seconds:.1f}s (seed {seed}): classes {', '.join(classes)}")


if __name__ == "__main__":
    sys.exit(main())
