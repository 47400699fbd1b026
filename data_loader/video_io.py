"""Reading clips from disk: video files (PyAV or OpenCV) and folders of extracted frames.

Every failure is a DataError naming the file: an empty or undecodable video, a frame folder
without images, an unreadable frame, frames of different sizes within one clip.
Frames come back as RGB uint8 arrays of shape (T, H, W, 3).
"""
import re
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from utils.errors import DataError

from .image_io import read_image

VIDEO_EXTS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")
FRAME_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
BACKENDS = ("pyav", "opencv")


def is_video(path):
    return path.is_file() and path.suffix.lower() in VIDEO_EXTS and not path.name.startswith(".")


def frame_number_key(path):
    """Natural order: 'img_2.jpg' before 'img_10.jpg' (a string sort would swap them)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", Path(path).name)]


def list_frame_files(folder):
    """The images of a frame folder in frame-number order; hidden files are ignored."""
    folder = Path(folder)
    files = [p for p in folder.iterdir()
             if p.is_file() and p.suffix.lower() in FRAME_EXTS and not p.name.startswith(".")]
    if not files:
        raise DataError(f"frame folder {folder} has no images ({', '.join(FRAME_EXTS)}); "
                        "extract its frames again (tools/extract_frames.py) or remove it")
    return sorted(files, key=frame_number_key)


def check_frame_sizes(files):
    """All frames of a clip must have one size; reads image headers only."""
    first = None
    for path in files:
        try:
            with Image.open(path) as im:
                size = im.size
        except OSError as e:
            raise DataError(f"cannot read frame {path} (corrupt or not an image): {e}") from e
        if first is None:
            first = (path, size)
        elif size != first[1]:
            raise DataError(f"frame {path} is {size[0]}x{size[1]} but {first[0].name} in the same clip is "
                            f"{first[1][0]}x{first[1][1]} (width x height); all frames of a clip must match")


def read_frame_files(files):
    """(T, H, W, 3) RGB uint8 from image files (repeats allowed)."""
    frames, cache = [], {}
    for path in files:
        if path not in cache:
            cache[path] = read_image(path, what="frame")
        frames.append(cache[path])
    return _stack(frames, files)


def _stack(frames, names):
    shape = frames[0].shape
    for frame, name in zip(frames, names):
        if frame.shape != shape:
            raise DataError(f"{name}: frame of size {frame.shape[1]}x{frame.shape[0]} in a clip whose first "
                            f"frame is {shape[1]}x{shape[0]}; all frames of a clip must match")
    return np.stack(frames)


# --- video files -------------------------------------------------------------------------
def count_video_frames(path, backend="pyav"):
    """The number of frames of a video; decodes the first one to prove the file is readable."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"video {path} not found")
    if path.stat().st_size == 0:
        raise DataError(f"video {path} is empty (0 bytes)")
    count = _count_pyav(path) if backend == "pyav" else _count_opencv(path)
    if count <= 0:
        raise DataError(f"video {path} has no frames")
    return count


def read_video_frames(path, indices, backend="pyav"):
    """Frames `indices` (any order, repeats allowed) of a video as (len(indices), H, W, 3) RGB uint8.

    Indices past the end (a container that over-reports its length) read the last frame.
    """
    indices = [int(i) for i in indices]
    wanted = set(indices)
    frames = _read_pyav(Path(path), wanted) if backend == "pyav" else _read_opencv(Path(path), wanted)
    if not frames:
        raise DataError(f"video {path}: no frame could be decoded")
    last = max(frames)
    names = [f"{path} (frame {i})" for i in indices]
    return _stack([frames[min(i, last)] for i in indices], names)


def iter_video_frames(path, backend="pyav"):
    """Every frame of a video as RGB uint8, one at a time (a long video never sits in memory whole)."""
    if backend == "opencv":
        cap = _opencv_open(path)
        try:
            while True:
                ok, frame = cap.read()
                if not ok:
                    return
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        finally:
            cap.release()
    import av

    container = _pyav_open(path)
    try:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as e:
        raise DataError(f"cannot decode video {path} (corrupt or truncated): {e}") from e
    finally:
        container.close()


def _pyav_open(path):
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise DataError(f"cannot decode video {path} (corrupt, truncated or not a video): {e}") from e
    if not container.streams.video:
        container.close()
        raise DataError(f"video {path} has no video stream")
    return container


def _count_pyav(path):
    import av

    container = _pyav_open(path)
    try:
        stream = container.streams.video[0]
        try:
            next(container.decode(stream))
        except StopIteration:
            return 0
        count = stream.frames
        if count <= 0:  # some containers (webm, mkv) do not store it: count packets instead
            container.seek(0)
            count = sum(1 for packet in container.demux(stream) if packet.size)
        return count
    except av.error.FFmpegError as e:
        raise DataError(f"cannot decode video {path} (corrupt or truncated): {e}") from e
    finally:
        container.close()


def _read_pyav(path, wanted):
    import av

    container = _pyav_open(path)
    frames, stop = {}, max(wanted)
    try:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i in wanted:
                frames[i] = frame.to_ndarray(format="rgb24")
            if i >= stop:
                break
    except av.error.FFmpegError as e:
        raise DataError(f"cannot decode video {path} after frame {len(frames)} (corrupt or truncated): {e}") from e
    finally:
        container.close()
    return frames


def _opencv_open(path):
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(f"cannot decode video {path} with OpenCV (corrupt, truncated, not a video, "
                        "or a codec this OpenCV build lacks: try backend 'pyav')")
    return cap


def _count_opencv(path):
    cap = _opencv_open(path)
    try:
        if not cap.read()[0]:
            return 0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:
            count = 1
            while cap.grab():
                count += 1
        return count
    finally:
        cap.release()


def _read_opencv(path, wanted):
    cap = _opencv_open(path)
    frames, stop = {}, max(wanted)
    try:
        for i in range(stop + 1):
            if not cap.grab():
                break
            if i in wanted:
                ok, image = cap.retrieve()
                if not ok:
                    raise DataError(f"cannot decode frame {i} of video {path}")
                frames[i] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    return frames
