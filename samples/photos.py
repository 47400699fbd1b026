"""Real photographs that installed packages ship (scikit-image, scikit-learn, matplotlib): the
pixels of the real-data sample sets (wrinkle_photos.py, action_footage.py). Nothing is downloaded."""
import functools
import importlib.util
from pathlib import Path

import cv2

# name: (package, file inside it, face box (x0, y0, x1, y1) as fractions of the photo, or None)
PHOTOS = {
    "astronaut": ("skimage", "data/astronaut.png", (0.33, 0.05, 0.53, 0.30)),
    "camera": ("skimage", "data/camera.png", (0.40, 0.12, 0.58, 0.30)),
    "coffee": ("skimage", "data/coffee.png", None),
    "rocket": ("skimage", "data/rocket.jpg", None),
    "motorcycle": ("skimage", "data/motorcycle_left.png", None),
    "ihc": ("skimage", "data/ihc.png", None),
    "china": ("sklearn", "datasets/images/china.jpg", None),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", (0.32, 0.22, 0.66, 0.60)),
    "chelsea": ("skimage", "data/chelsea.png", (0.25, 0.05, 0.85, 0.95)),
    "flower": ("sklearn", "datasets/images/flower.jpg", None),
}
SPLIT_PHOTOS = {  # held-out photos for val and test: their scores are on photos the model never saw
    "train": ("astronaut", "camera", "coffee", "rocket", "motorcycle", "ihc", "china"),
    "val": ("grace_hopper", "chelsea", "flower"),
    "test": ("grace_hopper", "chelsea", "flower"),
}


@functools.lru_cache(maxsize=None)
def load_photo(name):
    """The photo `name` of PHOTOS as BGR uint8, read from its package's folder."""
    package, rel, _ = PHOTOS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the real-photo samples read {rel} from the '{package}' package; "
                          "pip install -r requirements.txt")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path} (shipped with {package}) is missing or unreadable; reinstall {package}")
    return image


def pick_photo(rng, split):
    """(name, BGR photo) of one of `split`'s photos."""
    names = SPLIT_PHOTOS[split]
    name = names[int(rng.integers(len(names)))]
    return name, load_photo(name)
