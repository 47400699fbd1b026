"""Face regions: fixed boxes and polygons to pixels, clamping at the image edge, regions that follow landmarks."""
import numpy as np
import pytest
from skimage.draw import polygon2mask
from skimage.transform import SimilarityTransform

from data_loader.face_detection import Face
from data_loader.face_regions import DEFAULT_TEMPLATE, FaceRegions, crop_array, crop_tensor


class FixedFace:
    """A stand-in landmark provider: one face with the given eyes (or none)."""

    landmarks = True

    def __init__(self, left=None, right=None):
        self.left, self.right = left, right

    def detect(self, image):
        if self.left is None:
            return []
        return [Face((0, 0, 10, 10), 1.0, {"left_eye": self.left, "right_eye": self.right})]


def full_mask(region, h, w):
    out = np.zeros((h, w), bool)
    area = region.paste_area(h, w)
    if area is not None:
        r0, r1, c0, c1, m = area
        out[r0:r1, c0:c1] = m
    return out


def test_a_box_covers_the_pixels_whose_centres_it_contains():
    regions = FaceRegions({"a": [0.1, 0.2, 0.5, 0.6], "b": [0.105, 0.0, 0.2, 0.1]})
    located = regions.locate(size=(50, 100))
    expected = np.zeros((50, 100), bool)
    expected[10:30, 10:50] = True  # x 10..50 px, y 10..30 px
    assert np.array_equal(full_mask(located["a"], 50, 100), expected)
    # b starts at x = 10.5: pixel 10's centre (10.5) is inside, so column 10 is the first
    b = full_mask(located["b"], 50, 100)
    assert np.flatnonzero(b.any(0)).tolist() == list(range(10, 20))
    assert np.flatnonzero(b.any(1)).tolist() == list(range(5))


def test_a_polygon_is_rasterised_like_skimage():
    tri = [[0.13, 0.11], [0.87, 0.29], [0.41, 0.93]]
    region = FaceRegions({"tri": tri}).locate(size=(60, 80))["tri"]
    # skimage puts pixel centres at integer coordinates: shift ours (centres at +0.5) to match
    reference = polygon2mask((60, 80), np.array(tri)[:, ::-1] * (60, 80) - 0.5)
    assert np.array_equal(full_mask(region, 60, 80), reference)


def test_a_region_past_the_edge_is_clamped_and_its_crop_is_padded():
    regions = FaceRegions({"edge": [0.8, -0.2, 1.3, 0.4]}, margin=0.1)
    region = regions.locate(size=(40, 50))["edge"]
    mask = full_mask(region, 40, 50)
    assert np.flatnonzero(mask.any(0)).tolist() == list(range(40, 50))  # clamped at the right edge
    assert np.flatnonzero(mask.any(1)).tolist() == list(range(16))  # and at the top
    box = region.crop_box(0.1)
    assert box == (37, -11, 68, 19)  # x 40..65 grown by 2.5 px, y -8..16 grown by 2.4 px, rounded outwards
    image = np.arange(40 * 50 * 3, dtype=np.uint16).reshape(40, 50, 3)
    crop = crop_array(image, box)
    assert crop.shape == (30, 31, 3)
    assert np.array_equal(crop[11:, :13], image[0:19, 37:50])  # inside: the image itself
    assert np.array_equal(crop[0], crop[11]) and np.array_equal(crop[:, 20], crop[:, 12])  # outside: border repeated
    mask_crop = crop_array(np.ones((40, 50), np.uint8), box, fill=255)
    assert (mask_crop[:11] == 255).all() and (mask_crop[:, 13:] == 255).all() and (mask_crop[11:, :13] == 1).all()
    import torch

    t = torch.as_tensor(image.astype(np.float32)).permute(2, 0, 1)[None]
    assert np.array_equal(crop_tensor(t, box)[0].permute(1, 2, 0).numpy(), crop.astype(np.float32))


def test_a_region_outside_the_image_has_no_paste_area():
    region = FaceRegions({"out": [1.1, 0.1, 1.4, 0.4]}).locate(size=(30, 30))["out"]
    assert region.paste_area(30, 30) is None


def test_regions_follow_the_eyes_found_by_the_landmark_provider():
    parts = {"forehead": [0.3, 0.17, 0.7, 0.3], "nose": [[0.45, 0.5], [0.55, 0.5], [0.5, 0.65]]}
    regions = FaceRegions(parts)
    size = np.array(DEFAULT_TEMPLATE["size"], float)
    eyes_t = np.array(list(DEFAULT_TEMPLATE["points"].values())) * size
    truth = SimilarityTransform(scale=0.8, rotation=np.deg2rad(12), translation=(40, -15))
    left, right = truth(eyes_t)
    regions.detector = FixedFace(tuple(left), tuple(right))
    image = np.zeros((400, 380, 3), np.uint8)
    located = regions.locate(image=image)
    for name, spec in parts.items():
        pts = np.array(spec, float)
        if pts.ndim == 1:  # a box: its four corners
            x0, y0, x1, y1 = pts
            pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        assert np.allclose(located[name].points, truth(pts * size), atol=1e-6)
        assert not located[name].axis_box  # rotated: rasterised as a polygon
    # no face found: the fixed rule (coordinates normalised by the image size)
    regions.detector = FixedFace()
    fallback = regions.locate(image=image)["forehead"]
    assert np.allclose(fallback.bounds(), (0.3 * 380, 0.17 * 400, 0.7 * 380, 0.3 * 400))


def test_the_lbp_detector_places_the_regions_on_a_synthetic_aligned_face():
    from samples.wrinkle import FACE_REGIONS, render_face

    image, _ = render_face(np.random.default_rng(3), 330, 300)
    image = image[..., ::-1].copy()  # BGR -> RGB
    fixed = FaceRegions(dict(FACE_REGIONS))
    landmarked = FaceRegions(dict(FACE_REGIONS), landmarks={"type": "LBPCascade"})
    a, b = fixed.locate(size=(330, 300)), landmarked.locate(image=image)
    ious = []
    for name in FACE_REGIONS:
        ma, mb = full_mask(a[name], 330, 300), full_mask(b[name], 330, 300)
        ious.append((ma & mb).sum() / (ma | mb).sum())
    # The face box only estimates the eyes, so the regions move a little, but each lands on its own.
    assert np.mean(ious) > 0.3 and min(ious) > 0.2, ious


@pytest.mark.parametrize("spec, message", [
    ({"parts": {"a": [0.5, 0.1, 0.2, 0.3]}}, "x0 < x1"),
    ({"parts": {"a": [[0.1, 0.1], [0.2, 0.2]]}}, "regions.parts.a"),
    ({"parts": {}}, "regions.parts"),
    ({"parts": {"a": [0, 0, 1, 1]}, "overlap": "sum"}, "regions.overlap"),
    ({"parts": {"a": [0, 0, 1, 1]}, "marign": 0.1}, "margin"),
    ({"parts": {"a": [0, 0, 1, 1]}, "landmarks": {"type": "Nope"}}, "regions.landmarks"),
])
def test_bad_region_specs_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        FaceRegions.from_spec(spec)
