"""tools/export.py: every task family to ONNX and TorchScript, outputs equal to PyTorch's at
another batch size, class names and preprocessing carried as metadata."""
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from data_loader.mask_labels import GENDER_NAMES, MASK_NAMES, class_names
from tiny_checkpoints import tiny_checkpoint
from tools import export
from trainer.build import build_model
from utils.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
KINETICS = ([0.43216, 0.394666, 0.37645], [0.22803, 0.22145, 0.216989])  # torchvision video models' (action_quick)
ACTIONS = ["fall", "walk_left", "walk_right", "stand", "appear"]
# kind: (input shape at batch 3, output names, class names per output, mean/std, input size)
CASES = {
    "wrinkle": ((3, 3, 96, 64), ["logits"], {"logits": ["wrinkle"]}, IMAGENET, None),
    "face_heads": ((3, 3, 96, 72), ["mask", "gender", "age"],
                   {"mask": MASK_NAMES, "gender": GENDER_NAMES, "age": None}, IMAGENET, [96, 72]),
    "face_18": ((3, 3, 300, 240), ["logits"], {"logits": class_names()}, IMAGENET, [300, 240]),
    "action_3d": ((3, 3, 8, 32, 40), ["logits"], {"logits": ACTIONS}, KINETICS, [32, 40]),
    "action_2d": ((3, 1, 3, 32, 40), ["logits"], {"logits": ACTIONS}, IMAGENET, [32, 40]),
}
LAYOUTS = {"wrinkle": "NCHW", "face_heads": "NCHW", "face_18": "NCHW", "action_3d": "NCTHW", "action_2d": "NTCHW"}


def reference(ckpt_path, x):
    """The checkpoint's model built anew from its config: what the exported file must compute."""
    ckpt = load_checkpoint(ckpt_path)
    model = build_model(ckpt["config"], load_weights_from_config=False)
    model.load_state_dict(ckpt["model"])
    with torch.no_grad():
        out = model.eval()(x)
    return out if isinstance(out, dict) else {"logits": out}


def load_onnx(path):
    import onnx

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    run = lambda x: session.run(None, {"input": x.numpy()})  # noqa: E731
    return [o.name for o in session.get_outputs()], run, meta


def load_torchscript(path):
    extra = {"metadata.json": ""}
    module = torch.jit.load(str(path), _extra_files=extra)
    meta = json.loads(extra["metadata.json"])

    def run(x):
        with torch.no_grad():
            out = module(x)
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]
    return json.loads(meta["output_names"]), run, meta


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """exported(kind, fmt) -> (checkpoint, exported file), each exported once per module."""
    files = {}

    def get(kind, fmt):
        if (kind, fmt) not in files:
            tmp = tmp_path_factory.mktemp(kind)
            ckpt = tiny_checkpoint(kind, tmp / "model_best.pth")
            out = tmp / f"model.{fmt}"
            assert export.main(["--checkpoint", str(ckpt), "--format", fmt, "--out", str(out), "--no-check"]) == 0
            files[kind, fmt] = ckpt, out
        return files[kind, fmt]
    return get


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("kind", list(CASES))
def test_the_exported_model_matches_pytorch_and_carries_its_preprocessing(kind, fmt, exported):
    shape, names, classes, (mean, std), size = CASES[kind]
    ckpt, out = exported(kind, fmt)

    output_names, run, meta = (load_onnx if fmt == "onnx" else load_torchscript)(out)
    assert output_names == names  # one named output per head
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))  # batch 3: exported at batch 2
    expected = reference(ckpt, x)
    for name, got in zip(names, run(x)):
        assert got.shape == tuple(expected[name].shape)
        np.testing.assert_allclose(got, expected[name].numpy(), rtol=1e-4, atol=1e-4)

    assert meta["layout"] == LAYOUTS[kind] and meta["color"] == "RGB"
    assert json.loads(meta["mean"]) == pytest.approx(mean) and json.loads(meta["std"]) == pytest.approx(std)
    assert json.loads(meta["input_size"]) == size and json.loads(meta["max_pixel_value"]) == 255
    saved = json.loads(meta["class_names"])
    assert list(saved) == names
    for name, expected_names in classes.items():
        if expected_names is not None:
            assert saved[name] == expected_names
    if kind == "face_heads":
        assert saved["age"][0].startswith("young") and len(saved["age"]) == 3
    assert json.loads(meta["transform"])[-1]["type"] == "ToTensorV2"  # the validation transform itself


def test_an_onnx_wrinkle_model_takes_any_size_and_its_metadata_is_enough_to_use_it(exported):
    """Preprocess with nothing but the metadata; the result is the predictor's wrinkle map."""
    from skimage import data

    from deploy.predictor import Predictor

    ckpt, out = exported("wrinkle", "onnx")
    _, run, meta = load_onnx(out)
    image = data.astronaut()[:160, :224]  # a multiple of pad_to_multiple: no padding needed
    assert json.loads(meta["pad_to_multiple"]) == 32 and meta["output_activation"] == "sigmoid"
    mean, std, scale = (np.array(json.loads(meta[k]), np.float32) for k in ("mean", "std", "max_pixel_value"))
    x = ((image / scale - mean) / std).astype(np.float32).transpose(2, 0, 1)[None]
    prob = 1 / (1 + np.exp(-run(torch.from_numpy(x))[0][0, 0]))
    expected = Predictor.from_checkpoint(ckpt).predict_wrinkles(image).probability
    assert prob.shape == image.shape[:2]
    np.testing.assert_allclose(prob, expected, atol=1e-4)


def test_a_file_that_is_not_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "notes.pth"
    bad.write_text("not a checkpoint")
    assert export.main(["--checkpoint", str(bad), "--format", "onnx"]) == 2
    assert "notes.pth" in capsys.readouterr().err


def test_a_partitioned_model_exports_for_one_image_size(tmp_path, capsys):
    ckpt = tiny_checkpoint("partitioned", tmp_path / "merged.pth")
    assert export.main(["--checkpoint", str(ckpt), "--format", "onnx", "--no-check"]) == 2
    assert "give --input-size H W" in capsys.readouterr().err  # its regions are fractions of one size
    x = torch.randn(3, 3, 70, 60)
    expected = reference(ckpt, x)["logits"].numpy()
    for fmt, load in (("onnx", load_onnx), ("torchscript", load_torchscript)):
        out = tmp_path / f"merged.{fmt}"
        args = ["--checkpoint", str(ckpt), "--format", fmt, "--out", str(out), "--input-size", "70", "60"]
        assert export.main(args) == 0
        names, run, meta = load(out)
        assert names == ["logits"] and json.loads(meta["input_size"]) == [70, 60]
        assert np.abs(run(x)[0] - expected).max() < export.TOLERANCE, fmt
