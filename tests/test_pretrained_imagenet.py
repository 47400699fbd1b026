"""The published ImageNet files that the pretrained recipes name really load: through the project's
ClassificationModel, with the normalisation the recipe sets, they recognise real photos that
scikit-image ships. A wrong key mapping, classifier or normalisation fails this."""
import pytest
import skimage.data
import torch
import torchvision

from conftest import REPO
from data_loader.transforms import build_transform
from model.classification import ClassificationModel
from utils.config import load_config

CATEGORIES = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]  # ImageNet's class names
PHOTOS = {"chelsea": {"tabby", "tiger cat", "Egyptian cat"}, "coffee": {"espresso", "cup", "coffee mug"}}


def recipe(name):
    """(model args for 1000 ImageNet classes, the recipe's Normalize block) of a pretrained recipe."""
    cfg = load_config(REPO / "configs" / name)
    normalize = next(t for t in cfg["data"]["val"]["transform"] if t["type"] == "Normalize")
    args = cfg["model"]["args"]
    if cfg["model"]["type"] == "SegmentationModel":  # its encoder's file, as torchvision's classifier
        return {"backbone": f"tv-{args['encoder_name']}", "backbone_weights": args["encoder_weights"]}, normalize
    return {"backbone": args["backbone"], "backbone_weights": args["backbone_weights"]}, normalize


def predict(model, normalize):
    """Class probabilities for each photo: short side 256, centre 224 (ImageNet's evaluation), then `normalize`."""
    steps = [{"type": "SmallestMaxSize", "args": {"max_size": 256}},
             {"type": "CenterCrop", "args": {"height": 224, "width": 224}}]
    steps += [normalize, {"type": "ToTensorV2"}] if normalize else [{"type": "ToTensorV2"}]
    transform = build_transform(steps, "test")
    images = [transform(image=getattr(skimage.data, name)())["image"] for name in PHOTOS]  # RGB uint8
    x = torch.stack([i if i.is_floating_point() else i.float() / 255 for i in images])
    with torch.no_grad():
        return dict(zip(PHOTOS, model.eval()(x).softmax(-1)))


def recognised(probs):
    """Each photo: the top class is one of its classes and they hold most of the probability."""
    result = {}
    for name, p in probs.items():
        top5 = [CATEGORIES[i] for i in p.topk(5).indices]
        mass = float(sum(p[CATEGORIES.index(c)] for c in PHOTOS[name]))
        result[name] = (top5[0] in PHOTOS[name] and mass > 0.8, top5, round(mass, 3))
    return result


@pytest.mark.parametrize("config", ["mask_multihead_pretrained.json", "wrinkle_pretrained.json"])
def test_the_recipe_weights_recognise_real_photos(config, one_thread):
    args, normalize = recipe(config)
    model = ClassificationModel(num_classes=1000, **args)
    got = recognised(predict(model, normalize))
    assert all(ok and set(top5) & PHOTOS[name] for name, (ok, top5, _) in got.items()), got
    # The same weights on unnormalised pixels miss: the recipe's normalisation is the one they need.
    assert not all(ok for ok, _, _ in recognised(predict(model, None)).values())
    fresh = recognised(predict(ClassificationModel(args["backbone"], num_classes=1000), normalize))
    assert not any(ok for ok, _, _ in fresh.values())  # and untrained weights do not pass
