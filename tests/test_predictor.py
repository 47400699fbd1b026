"""deploy/predictor.py: a checkpoint gives the predictions validation would give, with class names."""
import cv2
import numpy as np
import pytest
import torch
from skimage import data

from data_loader.mask_labels import class_names
from deploy.predictor import Predictor
from deploy.preprocessing import decode_image
from tiny_checkpoints import tiny_checkpoint
from trainer.build import build_dataset, build_model
from utils.checkpoint import load_checkpoint
from utils.errors import CheckpointError, DataError

pytestmark = pytest.mark.usefixtures("one_thread")
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def fresh_model(ckpt):
    state = load_checkpoint(ckpt)
    model = build_model(state["config"], load_weights_from_config=False)
    model.load_state_dict(state["model"])
    return model.eval()


def test_a_face_photo_gets_each_head_as_validation_computes_it(tmp_path):
    """Reference by hand: centre crop 400x320, resize to 96x72, ImageNet normalisation, and the
    config's TTA (identity + hflip) averaging the softmax probabilities."""
    ckpt = tiny_checkpoint("face_heads", tmp_path / "m.pth")
    photo = data.astronaut()
    probs = Predictor.from_checkpoint(ckpt).predict_image(photo)

    crop = photo[56:456, 96:416]
    x = (cv2.resize(crop, (72, 96), interpolation=cv2.INTER_LINEAR) / 255.0 - MEAN) / STD
    x = torch.tensor(x, dtype=torch.float32).permute(2, 0, 1)[None]
    model = fresh_model(ckpt)
    with torch.no_grad():
        views = [model(x), model(x.flip(-1))]
    for head in ("mask", "gender", "age"):
        expected = sum(v[head].softmax(-1) for v in views)[0] / 2
        assert list(probs[head].values()) == pytest.approx(expected.tolist(), abs=1e-5)
    assert list(probs["mask"]) == ["wear", "incorrect", "not wear"] and list(probs["age"])[2] == "old (60+)"
    assert list(probs["class"]) == class_names() and sum(probs["class"].values()) == pytest.approx(1, abs=1e-5)


def test_an_18_way_model_also_gives_the_heads(tmp_path):
    probs = Predictor.from_checkpoint(tiny_checkpoint("face_18", tmp_path / "m.pth")).predict_image(data.astronaut())
    classes = np.array(list(probs["class"].values())).reshape(3, 2, 3)
    assert list(probs["mask"].values()) == pytest.approx(classes.sum((1, 2)).tolist(), abs=1e-6)
    assert list(probs["age"].values()) == pytest.approx(classes.sum((0, 1)).tolist(), abs=1e-6)


def test_a_wrinkle_model_gives_a_probability_map_its_area_and_overlay(tmp_path):
    ckpt = tiny_checkpoint("wrinkle", tmp_path / "w.pth", "metrics.0.args.threshold=0.45")
    photo = data.astronaut()[:100, :150]  # not a multiple of 32: padded and cropped back
    predictor = Predictor.from_checkpoint(ckpt)
    assert predictor.threshold == 0.45  # the config's, as test.py uses it
    predictor.threshold = float(np.median(predictor.predict_wrinkles(photo).probability))  # untrained: split it
    result = predictor.predict_wrinkles(photo)
    assert result.probability.shape == photo.shape[:2]
    on = result.probability >= predictor.threshold
    assert 0 < on.mean() < 1 and result.area_fraction == pytest.approx(on.mean())
    assert (result.overlay[~on] == photo[~on]).all() and (result.overlay[on][:, 0] >= photo[on][:, 0]).all()
    x = torch.tensor((photo / 255.0 - MEAN) / STD, dtype=torch.float32).permute(2, 0, 1)[None]
    padded = torch.nn.functional.pad(x, (0, 10, 0, 28), mode="reflect")  # to 128 x 160
    model = fresh_model(ckpt)  # outside no_grad: building the U-Net runs a backward pass
    with torch.no_grad():
        expected = torch.sigmoid(model(padded))[0, 0, :100, :150].numpy()
    np.testing.assert_allclose(result.probability, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["action_3d", "action_2d"])
def test_a_video_gets_the_probabilities_validation_gives_it_with_the_class_names_of_training(kind, tmp_path,
                                                                                            action_videos):
    ckpt = tiny_checkpoint(kind, tmp_path / "a.pth", f"data.dataset.args.root={action_videos}",
                           "data.dataset.args.classes=null")
    predictor = Predictor.from_checkpoint(ckpt)
    dataset = build_dataset(predictor.cfg, "val")
    index = len(dataset) - 1
    probs = predictor.predict_video(dataset.clips[index].path)["action"]
    assert list(probs) == load_checkpoint(ckpt)["labels"]["classes"]  # as training numbered them
    model = fresh_model(ckpt)
    with torch.no_grad():
        expected = model(dataset[index]["input"][None]).softmax(-1)[0]
    assert list(probs.values()) == pytest.approx(expected.tolist(), abs=1e-5)


def test_bad_inputs_are_clear_errors(tmp_path, action_videos):
    with pytest.raises(DataError, match="notes.txt is not an image"):
        decode_image(b"just text", "notes.txt")
    with pytest.raises(DataError, match="big.png is 2000x1000 pixels; images over 1 megapixels are refused"):
        decode_image(cv2.imencode(".png", np.zeros((1000, 2000, 3), np.uint8))[1].tobytes(), "big.png", 1e6)
    face = Predictor.from_checkpoint(tiny_checkpoint("face_heads", tmp_path / "m.pth"))
    with pytest.raises(DataError, match="100x80 pixels .* too small"):
        face.predict_image(np.zeros((80, 100, 3), np.uint8))
    action = Predictor.from_checkpoint(tiny_checkpoint("action_3d", tmp_path / "a.pth",
                                                       f"data.dataset.args.root={action_videos}"))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video" * 100)
    with pytest.raises(DataError, match="broken.mp4"):
        action.predict_video(broken)
    with pytest.raises(DataError, match="notes.txt is not a video file"):
        action.predict_video(tmp_path / "notes.txt")
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(CheckpointError, match="junk.pth"):
        Predictor.from_checkpoint(tmp_path / "junk.pth")
