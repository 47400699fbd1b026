"""Camera-motion clips filmed by a virtual camera over real photographs (photos.py), in the real layouts.

The classes differ only in which way the camera turns, so no single frame tells them apart: every
frame of every class is a view of the same photographs at the same range of positions and scales.

    pan_left    the camera turns left: the scene slides right across the frame
    pan_right   the camera turns right: the scene slides left
    tilt_up     the camera tilts up: the scene slides down
    tilt_down   the camera tilts down: the scene slides up

The camera moves 2-4 px a frame at 112x112 (0.7-1.4 px at 32x40), with a small handheld shake,
exposure flicker and sensor noise on top; the mp4/avi encoders add their artefacts. Validation
and test clips are filmed over photos that training never sees.

    <root>/videos/<split>/<class>/<clip>.mp4     MPEG-4 (every 4th clip .avi, Motion-JPEG)
    <root>/frames/<split>/<class>/<clip>/frame_<n>.jpg
    <root>/annotations/<split>.csv               path,label  (paths relative to <root>)

CLI: python -m samples.action_footage --out data/samples/action_footage
"""
import sys

import cv2
import numpy as np

from .action_clips import main as _main
from .action_clips import write_clip_dataset
from .photos import pick_photo

SAMPLE_ROOT = "data/samples/action_footage"
CLASSES = ("pan_left", "pan_right", "tilt_up", "tilt_down")
SIZE = 112  # frames are SIZE x SIZE
VIEW = (0.3, 0.6)  # the camera's view, as a fraction of the photo's short side (narrow to wide shots)
SPEED = (2.0, 4.0)  # px per frame at SIZE


def _views(rng, label, n, short, width, height):
    """Per frame (centre x, centre y, view side) in photo pixels."""
    t = np.arange(n, dtype=np.float64)
    shake = np.cumsum(rng.normal(0, 0.15, (n, 2)), 0)  # handheld: a slow random walk, in output px
    side = np.full(n, rng.uniform(*VIEW) * short)
    step = rng.uniform(*SPEED) * side[0] / SIZE  # photo px per frame
    horizontal = label.startswith("pan")
    room = (width if horizontal else height) - side[0] - 1
    travel = min(step * (n - 1), room)
    path = side[0] / 2 + rng.uniform(0, room - travel) + travel * t / (n - 1)
    path = path[::-1] if label in ("pan_left", "tilt_up") else path  # the camera moves left / up
    across = np.full(n, rng.uniform(side[0] / 2, (height if horizontal else width) - side[0] / 2))
    x, y = (path, across) if horizontal else (across, path)
    scale = side / SIZE
    return x + shake[:, 0] * scale, y + shake[:, 1] * scale, side


def render_footage(rng, split, label, num_frames):
    """(num_frames, SIZE, SIZE, 3) RGB uint8 frames of one clip of class `label`."""
    _, photo = pick_photo(rng, split)
    photo = cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)
    # Work at a scale where the widest view is about 1.4 x SIZE, so the warps never alias badly.
    f = min(1.0, 1.4 * SIZE / (VIEW[1] * min(photo.shape[:2])))
    photo = cv2.resize(photo, None, fx=f, fy=f, interpolation=cv2.INTER_AREA).astype(np.float32)
    h, w = photo.shape[:2]
    x, y, side = _views(rng, label, num_frames, min(h, w), w, h)
    exposure = rng.uniform(0.85, 1.15) * (1 + np.cumsum(rng.normal(0, 0.005, num_frames)))
    frames = []
    for cx, cy, s, e in zip(x, y, side, exposure):
        k = s / SIZE  # output px -> photo px
        m = np.array([[k, 0, cx - k * SIZE / 2], [0, k, cy - k * SIZE / 2]])
        frame = cv2.warpAffine(photo, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        frame = frame * e + rng.normal(0, 2, frame.shape)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


def generate_action_footage(root=SAMPLE_ROOT, n_train=16, n_val=8, n_test=8, seed=0, frames=(16, 20),
                            progress=True):
    """Write the camera-motion clips (n_* per class and split) in every layout; return root."""
    return write_clip_dataset(root, CLASSES, render_footage, (n_train, n_val, n_test), seed, frames, progress,
                              desc="action footage clips")


if __name__ == "__main__":
    sys.exit(_main(generate=generate_action_footage, default_out=SAMPLE_ROOT, classes=CLASSES,
                   what="camera-motion clips over real photographs"))
