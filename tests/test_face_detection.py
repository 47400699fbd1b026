"""Face detectors on real photos that ship with scikit-image: a face found where it is, none where there is none."""
import importlib.util
import pickle

import cv2
import numpy as np
import pytest
from skimage import data

from data_loader.face_detection import EYES_IN_BOX, Face, build_detector, eyes
from utils.errors import ConfigError

# The astronaut's face landmarks (eyes, nose tip, mouth corners), located with MTCNN (facenet-pytorch 2.6).
ASTRONAUT_LANDMARKS = np.array([[205, 102], [247, 104], [225, 129], [202, 139], [245, 142]])


def inside(box, points):
    x0, y0, x1, y1 = box
    return all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in points)


def test_the_default_detector_finds_the_astronauts_face():
    faces = build_detector({"type": "LBPCascade"}).detect(data.astronaut())
    assert faces, "no face found in skimage.data.astronaut()"
    box = faces[0].box
    assert inside(box, ASTRONAUT_LANDMARKS)  # the box holds her eyes, nose and mouth
    assert 60 <= box[2] - box[0] <= 160 and 60 <= box[3] - box[1] <= 160  # face-sized, not the whole photo
    (lx, ly), (rx, ry), estimated = eyes(faces[0])
    assert estimated and lx < rx
    # the box's usual eye positions land within a fifth of the face of her real eyes
    assert np.abs(np.array([[lx, ly], [rx, ry]]) - ASTRONAUT_LANDMARKS[:2]).max() < 0.2 * (box[2] - box[0])


def test_large_photos_are_searched_on_a_downscaled_copy_with_boxes_in_original_pixels():
    big = cv2.resize(data.astronaut(), (1536, 1536), interpolation=cv2.INTER_CUBIC)
    faces = build_detector({"type": "LBPCascade", "args": {"max_side": 512}}).detect(big)
    assert faces and inside(faces[0].box, ASTRONAUT_LANDMARKS * 3)


@pytest.mark.parametrize("photo", ["coffee", "rocket"])
def test_no_face_is_found_in_photos_without_one(photo):
    assert build_detector("LBPCascade").detect(getattr(data, photo)()) == []


def test_a_detector_survives_pickling_for_dataloader_workers():
    detector = build_detector("LBPCascade")
    detector.detect(data.astronaut())
    clone = pickle.loads(pickle.dumps(detector))
    assert [f.box for f in clone.detect(data.astronaut())] == [f.box for f in detector.detect(data.astronaut())]


def test_haar_cascades_need_opencv_4_and_say_so():
    if hasattr(cv2, "CascadeClassifier") and getattr(getattr(cv2, "data", None), "haarcascades", None):
        faces = build_detector("HaarCascade").detect(data.astronaut())
        assert faces and inside(faces[0].box, ASTRONAUT_LANDMARKS[:2])
    else:  # opencv-python-headless 5.0 ships neither the XMLs nor CascadeClassifier
        with pytest.raises(ConfigError, match=r"HaarCascade needs OpenCV 4.x.*opencv-python-headless<5"):
            build_detector("HaarCascade")


def test_mtcnn_is_an_optional_extra_with_an_install_hint():
    if importlib.util.find_spec("facenet_pytorch") is not None:
        faces = build_detector("MTCNN").detect(data.astronaut())
        assert np.abs(np.array(list(faces[0].landmarks.values())) - ASTRONAUT_LANDMARKS).max() < 5
    else:
        with pytest.raises(ConfigError, match="pip install --no-deps facenet-pytorch"):
            build_detector("MTCNN")


def test_bad_detector_configs_are_named():
    with pytest.raises(ConfigError, match=r"detector.type: unknown face detector 'LBP'.*LBPCascade"):
        build_detector({"type": "LBP"})
    with pytest.raises(ConfigError, match=r"min_size"):
        build_detector({"type": "LBPCascade", "args": {"min_size": 2.0}})


def test_eyes_come_from_landmarks_when_there_are_some():
    face = Face((0, 0, 100, 100), landmarks={"left_eye": (31, 40), "right_eye": (69, 42)})
    assert eyes(face) == ((31, 40), (69, 42), False)
    left, right, estimated = eyes(Face((10, 20, 110, 120)))
    assert estimated and left == (10 + 100 * EYES_IN_BOX[0][0], 20 + 100 * EYES_IN_BOX[0][1])


def test_haar_boxes_and_eyes_map_back_to_the_original_photo(monkeypatch):
    """Our code around OpenCV's cascades (downscaling, eye search in the face's upper part, left/right),
    with the cascades stubbed: OpenCV 5 wheels ship no cascades, so this runs everywhere."""
    class Cascade:
        def __init__(self, path):
            self.eye = "eye" in path

        def detectMultiScale(self, grey, *args, **kwargs):
            if self.eye:  # in the face's upper-part crop: a small decoy and two eyes, one per side
                return np.array([[20, 30, 20, 14], [10, 28, 8, 6], [100, 32, 20, 14]])
            return np.array([[100, 60, 160, 200]])  # in the downscaled copy (x, y, w, h)

    monkeypatch.setattr(cv2, "CascadeClassifier", Cascade, raising=False)
    monkeypatch.setattr(cv2, "data", type("data", (), {"haarcascades": "/cascades/"}), raising=False)
    detector = build_detector({"type": "HaarCascade", "args": {"max_side": 640}})
    (face,) = detector.detect(np.zeros((1280, 960, 3), np.uint8))  # downscaled by 2 for detection
    assert face.box == (200, 120, 520, 520)
    assert face.landmarks == {"left_eye": (260, 194), "right_eye": (420, 198)}  # the larger box on the left


def test_mtcnn_keeps_confident_faces_largest_first_with_named_landmarks(monkeypatch):
    import sys
    import types

    class Net:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

        def detect(self, image, landmarks):
            boxes = np.array([[0, 0, 10, 10], [5, 5, 105, 125], [50, 50, 90, 90]], float)
            points = np.arange(30, dtype=float).reshape(3, 5, 2)
            return boxes, np.array([0.95, 0.99, 0.5]), points

    monkeypatch.setitem(sys.modules, "facenet_pytorch", types.SimpleNamespace(MTCNN=Net))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    faces = build_detector({"type": "MTCNN", "args": {"min_score": 0.9}}).detect(np.zeros((200, 200, 3), np.uint8))
    assert [f.box for f in faces] == [(5.0, 5.0, 105.0, 125.0), (0.0, 0.0, 10.0, 10.0)]  # 0.5 dropped, by area
    assert list(faces[0].landmarks) == ["left_eye", "right_eye", "nose", "mouth_left", "mouth_right"]
    assert faces[0].landmarks["nose"] == (14.0, 15.0) and faces[0].score == 0.99
