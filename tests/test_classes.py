"""Classes named once: the dataset's list fills the model, metrics, writers and mixers; copies that
disagree, per-class weights of the wrong length and data of other classes are named errors."""
import json
from types import SimpleNamespace

import pytest

import train
from conftest import REPO
from data_loader.mask_labels import head_classes
from trainer.classes import resolve_classes
from trainer.testing import check_labels
from utils import registry
from utils.config import load_config
from utils.errors import ConfigError

CLIPS = SimpleNamespace(classes=["trip", "stroll", "wait"])
FACES = SimpleNamespace(head_classes=head_classes())


def test_a_one_label_recipe_takes_count_and_names_from_the_data_and_pins_them():
    cfg = resolve_classes(load_config(REPO / "configs/action_r3d18.json"), CLIPS)
    assert cfg["model"]["args"]["num_classes"] == 3
    assert cfg["metrics"][0]["args"] == {"num_classes": 3, "class_names": ["trip", "stroll", "wait"]}
    assert cfg["test"]["writers"][0]["args"]["class_names"] == ["trip", "stroll", "wait"]
    assert cfg["data"]["dataset"]["args"]["classes"] == ["trip", "stroll", "wait"]  # every split numbers alike


def test_a_multi_head_recipe_takes_its_heads_from_the_data():
    cfg = resolve_classes(load_config(REPO / "configs/mask_multihead_effnet.json"), FACES)
    assert cfg["model"]["args"]["heads"] == {"mask": 3, "gender": 2, "age": 3}
    age = next(m for m in cfg["metrics"] if m.get("args", {}).get("key") == "age")
    assert age["args"]["class_names"] == ["young (<30)", "middle (30 to <60)", "old (60+)"]
    single = resolve_classes(load_config(REPO / "configs/mask_single18.json"), SimpleNamespace(classes=list("abc")))
    assert single["data"]["train"]["batch_transform"]["args"]["num_classes"] == 3  # CutMix's one-hot size


@pytest.mark.parametrize("path,value,message", [
    ("model.args.num_classes", 5, r"model\.args\.num_classes: 5 differs from the dataset's 3 classes"),
    ("metrics.0.args.class_names", ["stroll", "trip", "wait"], r"metrics\.0\.args\.class_names: .* differs"),
])
def test_a_copy_that_disagrees_with_the_data_is_named(path, value, message):
    cfg = load_config(REPO / "configs/action_r3d18.json")
    node = cfg
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[last] = value
    with pytest.raises(ConfigError, match=message):
        resolve_classes(cfg, CLIPS)


def test_heads_and_per_class_weights_must_fit_the_data():
    cfg = load_config(REPO / "configs/mask_multihead_effnet.json")
    cfg["metrics"][1]["args"]["key"] = "masks"
    with pytest.raises(ConfigError, match=r"metrics\.1\.args\.key: 'masks' is not a head of the dataset"):
        resolve_classes(cfg, FACES)
    cfg = load_config(REPO / "configs/mask_multihead_effnet.json")
    cfg["loss"]["args"]["heads"]["age"]["args"]["alpha"] = [1.0, 2.0]
    with pytest.raises(ConfigError, match=r"loss\.args\.heads\.age\.args\.alpha: 2 values for the 3 classes"):
        resolve_classes(cfg, FACES)
    cfg = load_config(REPO / "configs/mask_multihead_effnet.json")
    cfg["loss"]["args"]["heads"]["glasses"] = {"type": "CrossEntropy"}
    with pytest.raises(ConfigError, match=r"loss\.args\.heads\.glasses: not a head of the dataset"):
        resolve_classes(cfg, FACES)


def test_test_py_refuses_data_whose_classes_are_not_the_models():
    cfg = resolve_classes(load_config(REPO / "configs/action_r3d18.json"), CLIPS)
    ckpt = {"labels": {"classes": ["trip", "stroll", "wait"]}}
    check_labels(cfg, CLIPS, ckpt, "model_best.pth")  # the same classes: fine
    other = SimpleNamespace(classes=["trip", "wait", "stroll"], split="test")
    with pytest.raises(ConfigError, match="not the ones model_best.pth was trained on"):
        check_labels(cfg, other, ckpt, "model_best.pth")


def test_a_multi_head_recipe_runs_on_other_heads_with_only_the_label_columns_changed():
    """"*" stands for every head of the data, in the loss and the metrics; the writer names each head's classes."""
    people = SimpleNamespace(head_classes={"gender": ["female", "male"], "age": ["young", "middle", "old"]})
    cfg = resolve_classes(load_config(REPO / "configs/image_multihead.json"), people)
    assert cfg["model"]["args"]["heads"] == {"gender": 2, "age": 3}
    assert list(cfg["loss"]["args"]["heads"]) == ["gender", "age"]
    assert [m["args"]["key"] for m in cfg["metrics"]] == ["gender", "age"]
    assert cfg["metrics"][1]["args"]["class_names"] == ["young", "middle", "old"]
    assert cfg["test"]["writers"][0]["args"]["class_names"] == people.head_classes
    with pytest.raises(ConfigError, match=r"metrics\.0\.args\.key: '\*' \(every head\) needs data with several heads"):
        resolve_classes(load_config(REPO / "configs/image_multihead.json"), CLIPS)


def test_print_config_fills_the_classes_and_says_where_each_came_from(action_videos, capsys):
    assert train.main(["--config", str(REPO / "configs/action_quick.json"), "--print-config",
                       "-o", f"data.dataset.args.root={action_videos}"]) == 0
    out, err = capsys.readouterr()
    cfg = json.loads(out)  # stdout stays the config alone
    names = cfg["data"]["dataset"]["args"]["classes"]
    assert cfg["model"]["args"]["num_classes"] == len(names) == 5
    assert (f"# model.args.num_classes = 5: the dataset's 5 classes {names}, for C3D's num_classes (count)"
            in err.splitlines())
    assert "# test.writers.0.args.class_names = " in err and "for ClipPredictionWriter's class_names (names)" in err


def test_a_component_declares_the_arguments_that_take_classes_not_their_annotation():
    with pytest.raises(ValueError, match="'species' is not a kind of class argument"):
        registry.takes_classes(labels="species")

    @registry.takes_classes(n="count", labels="names or head names")
    class Probe:  # annotations say nothing about classes: the declaration does
        def __init__(self, n: int = 0, labels: object = None):
            pass

    registry.WRITERS.register(Probe, name="_ProbeWriter")
    cfg = load_config(REPO / "configs/action_r3d18.json")
    cfg["test"]["writers"] = [{"type": "_ProbeWriter"}]
    assert cfg_args(resolve_classes(cfg, CLIPS)) == {"n": 3, "labels": ["trip", "stroll", "wait"]}
    assert cfg_args(resolve_classes(cfg, FACES))["labels"] == FACES.head_classes  # every head's names
    assert "n" not in cfg_args(resolve_classes(cfg, FACES))  # a count of one label: nothing for heads


def cfg_args(cfg):
    return cfg["test"]["writers"][0]["args"]
