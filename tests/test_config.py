"""Config files, inheritance, overrides and the errors a user sees for a bad config."""
import json

import pytest
import yaml

import train
from conftest import REPO
from trainer.build import build_criterion, build_model, validate
from trainer.options import TrainerOptions
from utils.config import apply_overrides, load_config, merge
from utils.errors import ConfigError

PURE_BCE = "configs/wrinkle_wbce_pure.json"  # the seed recipe with its original loss, weighted BCE


def test_json_and_yaml_load_the_same(tmp_path):
    cfg = load_config(REPO / "configs/wrinkle_wbce.json")
    (tmp_path / "same.yaml").write_text(yaml.safe_dump(cfg))
    assert load_config(tmp_path / "same.yaml") == cfg


def test_yaml_reads_exponent_floats(tmp_path):
    (tmp_path / "c.yaml").write_text("optimizer:\n  args:\n    lr: 3e-4\n    eps: 1.0e-8\n")
    assert load_config(tmp_path / "c.yaml")["optimizer"]["args"] == {"lr": 3e-4, "eps": 1e-8}


def test_base_is_deep_merged_and_a_variant_is_a_small_delta():
    base = load_config(REPO / "configs/wrinkle_wbce.json")
    pure = load_config(REPO / PURE_BCE)
    # _replace_: no `smooth` left over from the base's soft F1
    assert pure["loss"] == {"type": "WeightedBCE", "args": {"pos_weight": "auto", "max_pos_weight": 50}}
    assert pure["name"] == "wrinkle_wbce_pure"
    assert {k: v for k, v in pure.items() if k not in ("loss", "name", "description")} == \
        {k: v for k, v in base.items() if k not in ("loss", "name", "description")}
    quick = load_config(REPO / "configs/wrinkle_quick.json")
    assert quick["model"]["args"]["arch"] == "Unet"  # inherited inside a merged dict
    assert quick["model"]["args"]["encoder_name"] == "mobilenet_v2"
    assert quick["inference"] == {"type": "Direct", "args": {"divisor": 32}}


def test_merge_replaces_lists_and_honours_replace():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": {"k": 1}}
    out = merge(base, {"a": {"y": [3]}, "b": {"_replace_": True, "j": 2}})
    assert out == {"a": {"x": 1, "y": [3]}, "b": {"j": 2}}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": {"k": 1}}  # inputs untouched


def test_base_chain_relative_paths_and_cycles(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.json").write_text(json.dumps({"name": "a", "trainer": {"epochs": 1, "monitor": "off"}}))
    (tmp_path / "sub" / "b.yaml").write_text("_base_: ../a.json\ntrainer:\n  epochs: 5\n")
    assert load_config(tmp_path / "sub" / "b.yaml") == {"name": "a", "trainer": {"epochs": 5, "monitor": "off"}}
    (tmp_path / "x.json").write_text(json.dumps({"_base_": "y.json"}))
    (tmp_path / "y.json").write_text(json.dumps({"_base_": "x.json"}))
    with pytest.raises(ConfigError, match="cycle"):
        load_config(tmp_path / "x.json")


def test_overrides_parse_values_as_yaml():
    cfg = apply_overrides({"optimizer": {"args": {"lr": 1}}, "l": [{"p": 0}, {"p": 0}]},
                          ["optimizer.args.lr=3e-4", "trainer.epochs=5", "trainer.amp=null", "x.flag=true",
                           "x.sizes=[256, 320]", "l.1.p=0.5", "name=my run"])
    assert cfg["optimizer"]["args"]["lr"] == 3e-4
    assert cfg["trainer"] == {"epochs": 5, "amp": None}
    assert cfg["x"] == {"flag": True, "sizes": [256, 320]}
    assert cfg["l"] == [{"p": 0}, {"p": 0.5}]
    assert cfg["name"] == "my run"
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides({}, ["trainer.epochs"])
    with pytest.raises(ConfigError, match="not an index"):
        apply_overrides({"l": [1]}, ["l.3=2"])


def test_only_true_and_false_read_as_booleans(config, tmp_path):
    """YAML 1.1 turns off/on/yes/no into booleans: `trainer.monitor=off` must stay the word a user typed."""
    cfg = apply_overrides({}, ["trainer.monitor=off", "a=yes", "b=No", "c=True", "d=false"])
    assert cfg == {"trainer": {"monitor": "off"}, "a": "yes", "b": "No", "c": True, "d": False}
    (tmp_path / "c.yaml").write_text("trainer:\n  monitor: off\n  tensorboard: false\n")
    assert load_config(tmp_path / "c.yaml")["trainer"] == {"monitor": "off", "tensorboard": False}
    validate(config("trainer.monitor=off"), training=True)  # accepted as the option it names


def test_cli_short_flags_and_print_config(capsys):
    code = train.main(["--config", str(REPO / "configs/wrinkle_quick.json"), "--lr", "0.01", "--bs", "3",
                       "--epochs", "7", "--seed", "5", "--device", "cpu", "-o", "trainer.amp=bf16",
                       "--print-config"])
    assert code == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["optimizer"]["args"]["lr"] == 0.01
    assert cfg["data"]["train"]["loader"]["batch_size"] == 3
    assert (cfg["trainer"]["epochs"], cfg["seed"], cfg["device"], cfg["trainer"]["amp"]) == (7, 5, "cpu", "bf16")


def test_unknown_top_level_key_suggests_the_closest():
    cfg = load_config(REPO / "configs/wrinkle_quick.json")
    cfg["optimiser"] = cfg.pop("optimizer")
    with pytest.raises(ConfigError, match=r"optimiser: unknown top-level config key. Did you mean 'optimizer'"):
        validate(cfg)


def test_unknown_type_lists_registered_names_and_closest(config):
    cfg = config("loss.type=WeightedBCD")
    with pytest.raises(ConfigError) as e:
        build_criterion(cfg)
    msg = str(e.value)
    assert msg.startswith("loss.type: unknown loss 'WeightedBCD'. Did you mean 'WeightedBCE'")
    assert "SoftF1Loss" in msg and "WeightedSum" in msg


def test_unknown_and_missing_arguments_name_the_path_and_accepted_args(config):
    with pytest.raises(ConfigError) as e:
        build_criterion(config("loss.args.pos_wieght=3"))
    assert "loss.args.pos_wieght: unknown argument for WeightedBCE" in str(e.value)
    assert "pos_weight" in str(e.value) and "max_pos_weight" in str(e.value)
    cfg = config()
    cfg["lr_scheduler"] = {"type": "StepLR", "args": {}}
    import torch

    from trainer.optim import build_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ConfigError, match=r"lr_scheduler.args: StepLR needs \['step_size'\]"):
        build_scheduler(cfg["lr_scheduler"], opt, epochs=2, steps_per_epoch=3)


def test_a_wrong_value_type_names_the_key(config):
    with pytest.raises(ConfigError, match=r"loss.args.max_pos_weight: expected a number, got 'big'"):
        build_criterion(config("loss.args.max_pos_weight=big"))
    from trainer.optim import build_optimizer

    cfg = config("optimizer.args.lr=fast")
    with pytest.raises(ConfigError, match=r"optimizer.args.lr: expected .*got 'fast'"):
        build_optimizer(cfg["optimizer"], build_model(cfg))
    with pytest.raises(ConfigError, match=r"trainer.epochs: expected an integer, got 'ten'"):
        TrainerOptions.from_config({"epochs": "ten"})
    with pytest.raises(ConfigError, match=r"trainer.amp: expected .*'bf16'.*got 'fp8'"):
        TrainerOptions.from_config({"amp": "fp8"})


def test_unknown_trainer_option_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"trainer.early_stopping: unknown trainer option. Did you mean 'early_stop'"):
        TrainerOptions.from_config({"early_stopping": 5})


def test_unknown_architecture_and_encoder(config):
    with pytest.raises(ConfigError, match=r"model.args.arch: unknown architecture 'Unett'. Did you mean 'Unet'"):
        build_model(config("model.args.arch=Unett"))
    with pytest.raises(ConfigError, match=r"model.args.encoder_name: unknown encoder 'resnet19'. Did you mean"):
        build_model(config("model.args.encoder_name=resnet19"))


def test_bad_config_fails_before_training_and_leaves_no_run_dir(config, tmp_path, capsys):
    cfg = config("trainer.monitor=max val/f2")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(cfg))
    assert train.main(["--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "trainer.monitor: 'val/f2' is not logged by this run. Did you mean 'val/f1'" in err
    assert not (tmp_path / "saved").exists()


def test_resolved_config_is_written_into_the_run_dir(config):
    from trainer import run_training

    cfg = config("trainer.epochs=1", "trainer.limit_train_batches=1", "trainer.limit_val_batches=1")
    trainer, _ = run_training(cfg)
    written = json.loads((trainer.paths.models / "config.json").read_text())
    assert written == cfg


def test_run_ids_never_collide(tmp_path):
    from utils.paths import RunPaths

    ids = {RunPaths.create(tmp_path, "same", run_id=None).run_id for _ in range(3)}
    assert len(ids) == 3
    assert all((tmp_path / "models/same" / i).is_dir() and (tmp_path / "log/same" / i).is_dir() for i in ids)
