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
