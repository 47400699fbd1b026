"""Pluggable face detectors / landmarkers whose models ship inside their packages (nothing is downloaded).

    {"type": "LBPCascade", "args": {"min_size": 0.1}}     scikit-image's LBP frontal-face cascade (default)
    {"type": "HaarCascade", "args": {"eyes": true}}       OpenCV 4.x Haar face + eye cascades (cv2.data)
    {"type": "MTCNN", "args": {"device": "cpu"}}          facenet-pytorch: box + 5 landmarks (optional extra)

`detector.detect(image)` takes an RGB uint8 array and returns `Face`s, largest first. A face's
`landmarks` maps "left_eye", "right_eye" (image left / image right) and, for MTCNN, "nose",
"mouth_left", "mouth_right" to (x, y) pixels; it is None when the detector found no landmarks.
`eyes(face)` then estimates the eyes from the box's usual proportions (`estimated` is True).
A detector's `landmarks` attribute says whether it can find landmarks at all.
"""
import importlib.util
from dataclasses import dataclass, field
from typing import Optional

import cv2
import numpy as np

from utils.builder import build
from utils.registry import Registry

FACE_DETECTORS = Registry("face detector")

# Where the eyes lie in a frontal-face cascade box (fractions of its width / height): the average
# of OpenCV's frontal cascades on frontal faces (box from the brows to below the mouth).
EYES_IN_BOX = ((0.30, 0.38), (0.70, 0.38))


@dataclass
class Face:
    box: tuple  # (x0, y0, x1, y1) in pixels, floats
    score: Optional[float] = None
    landmarks: Optional[dict] = None
    meta: dict = field(default_factory=dict)

    @property
    def area(self):
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def eyes(face, eyes_in_box=EYES_IN_BOX):
    """((left_x, left_y), (right_x, right_y), estimated): the detector's eyes, else the box's usual ones."""
    if face.landmarks and "left_eye" in face.landmarks and "right_eye" in face.landmarks:
        return tuple(face.landmarks["left_eye"]), tuple(face.landmarks["right_eye"]), False
    x0, y0, x1, y1 = face.box
    pts = [(x0 + fx * (x1 - x0), y0 + fy * (y1 - y0)) for fx, fy in eyes_in_box]
    return pts[0], pts[1], True


def build_detector(cfg, path="detector"):
    """A detector from a `{"type": ..., "args": ...}` block (or a bare name)."""
    return build(FACE_DETECTORS, cfg, path)


def _check_rgb(image):
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"a detector takes an RGB (or grey) uint8 array, got {getattr(image, 'dtype', type(image))}")
    return image if image.ndim == 3 else np.repeat(image[..., None], 3, axis=2)


class _Downscaled:
    """Detect on a copy no larger than `max_side` pixels (speed), return boxes in the original pixels."""

    max_side = 640

    def detect(self, image):
        image = _check_rgb(image)
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w)) if self.max_side else 1.0
        small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) \
            if scale < 1 else image
        faces = self._detect(small)
        for f in faces:
            f.box = tuple(v / scale for v in f.box)
            if f.landmarks:
                f.landmarks = {k: (x / scale, y / scale) for k, (x, y) in f.landmarks.items()}
        return sorted(faces, key=lambda f: -f.area)

    def _sizes(self, shape):
        short = min(shape[:2])
        lo = max(16, int(self.min_size * short))
        return lo, max(lo, int(self.max_size * short))


@FACE_DETECTORS.register
class LBPCascade(_Downscaled):
    """scikit-image's LBP frontal-face cascade (OpenCV's lbpcascade_frontalface, shipped in skimage.data).

    `min_size` / `max_size`: face size range as fractions of the image's shorter side. Boxes only."""

    landmarks = False  # eyes are estimated from the box (EYES_IN_BOX)

    def __init__(self, min_size: float = 0.1, max_size: float = 1.0, scale_factor: float = 1.1,
                 step_ratio: float = 1.0, min_neighbors: int = 4, max_side: Optional[int] = 640):
        if importlib.util.find_spec("skimage") is None:
            raise ValueError("LBPCascade needs scikit-image: pip install scikit-image")
        if not 0 < min_size <= max_size <= 1:
            raise ValueError(f"need 0 < min_size <= max_size <= 1 (fractions of the shorter side), "
                             f"got {min_size}, {max_size}")
        if scale_factor <= 1:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        self.min_size, self.max_size, self.scale_factor = min_size, max_size, scale_factor
        self.step_ratio, self.min_neighbors, self.max_side = step_ratio, min_neighbors, max_side
        self._cascade = None

    def __getstate__(self):  # the Cython cascade does not pickle (DataLoader workers): rebuilt lazily
        return {**self.__dict__, "_cascade": None}

    def _detect(self, image):
        from skimage import data, feature

        if self._cascade is None:
            self._cascade = feature.Cascade(data.lbp_frontal_face_cascade_filename())
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        lo, hi = self._sizes(grey.shape)
        found = self._cascade.detect_multi_scale(img=grey, scale_factor=self.scale_factor,
                                                 step_ratio=self.step_ratio, min_size=(lo, lo), max_size=(hi, hi),
                                                 min_neighbor_number=self.min_neighbors)
        return [Face((d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"])) for d in found]


@FACE_DETECTORS.register
class HaarCascade(_Downscaled):
    """OpenCV's Haar cascades: frontal face, then (`eyes`) the eye cascade inside the face's upper half.

    Needs OpenCV 4.x: opencv-python-headless 5.0 ships neither the XMLs (cv2.data) nor CascadeClassifier."""

    def __init__(self, face_model: str = "haarcascade_frontalface_default.xml", eyes: bool = True,
                 eye_model: str = "haarcascade_eye.xml", min_size: float = 0.1, max_size: float = 1.0,
                 scale_factor: float = 1.1, min_neighbors: int = 5, max_side: Optional[int] = 640):
        folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if folder is None or not hasattr(cv2, "CascadeClassifier"):
            raise ValueError(f"HaarCascade needs OpenCV 4.x (pip install 'opencv-python-headless<5' ships the "
                             f"cascade XMLs and CascadeClassifier); OpenCV {cv2.__version__} here has neither. "
                             "Use LBPCascade (scikit-image) instead")
        self.face_path, self.eye_path = f"{folder}{face_model}", f"{folder}{eye_model}"
        self.eyes, self.landmarks, self.min_size, self.max_size = eyes, eyes, min_size, max_size
        self.scale_factor, self.min_neighbors, self.max_side = scale_factor, min_neighbors, max_side
        self._models = None

    def __getstate__(self):
        return {**self.__dict__, "_models": None}

    def _detect(self, image):
        if self._models is None:
            self._models = (cv2.CascadeClassifier(self.face_path), cv2.CascadeClassifier(self.eye_path))
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        lo, hi = self._sizes(grey.shape)
        found = self._models[0].detectMultiScale(grey, self.scale_factor, self.min_neighbors,
                                                 minSize=(lo, lo), maxSize=(hi, hi))
        faces = []
        for x, y, w, h in np.asarray(found).reshape(-1, 4).tolist():
            faces.append(Face((x, y, x + w, y + h), landmarks=self._eyes(grey, x, y, w, h) if self.eyes else None))
        return faces

    def _eyes(self, grey, x, y, w, h):
        """The two largest eye detections in the face's upper 60%, one each side of its centre line."""
        found = self._models[1].detectMultiScale(grey[y:y + int(0.6 * h), x:x + w], 1.1, 5,
                                                 minSize=(max(8, w // 10),) * 2, maxSize=(w // 2,) * 2)
        centres = sorted(((ex + ew / 2 + x, ey + eh / 2 + y, ew * eh)
                          for ex, ey, ew, eh in np.asarray(found).reshape(-1, 4).tolist()), key=lambda c: -c[2])
        left = [c for c in centres if c[0] < x + w / 2]
        right = [c for c in centres if c[0] >= x + w / 2]
        if not left or not right:
            return None
        return {"left_eye": left[0][:2], "right_eye": right[0][:2]}


@FACE_DETECTORS.register
class MTCNN:
    """facenet-pytorch's MTCNN (weights ship in its wheel): boxes, scores and 5 landmarks.

    Optional extra: its metadata pins an old torch, so install it with
    `pip install --no-deps facenet-pytorch`."""

    landmarks = True

    def __init__(self, device: str = "cpu", min_face_size: int = 20, thresholds: list = (0.6, 0.7, 0.7),
                 min_score: float = 0.9):
        if importlib.util.find_spec("facenet_pytorch") is None:
            raise ValueError("MTCNN needs facenet-pytorch, an optional extra: pip install --no-deps facenet-pytorch")
        self.device, self.min_face_size, self.thresholds = device, min_face_size, list(thresholds)
        self.min_score = min_score
        self._net = None

    def __getstate__(self):
        return {**self.__dict__, "_net": None}

    def detect(self, image):
        from facenet_pytorch import MTCNN as Net

        if self._net is None:
            self._net = Net(keep_all=True, device=self.device, min_face_size=self.min_face_size,
                            thresholds=self.thresholds)
        boxes, scores, points = self._net.detect(_check_rgb(image), landmarks=True)
        if boxes is None:
            return []
        names = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
        faces = [Face(tuple(map(float, b)), float(s), {n: tuple(map(float, p)) for n, p in zip(names, pts)})
                 for b, s, pts in zip(boxes, scores, points) if s >= self.min_score]
        return sorted(faces, key=lambda f: -f.area)
