"""Memory options change how a step is computed, never what it computes."""
import copy

import pytest
import torch

import tests.components as components
from conftest import TINY_MODEL
from model import checkpointing
from model.checkpointing import enable_activation_checkpointing
from trainer import run_training
from trainer.build import build_model


def _no_norm(config, *overrides):
    cfg = config("trainer.epochs=1", "lr_scheduler=null", "trainer.train_metrics=false", "trainer.clip_grad_norm=null",
                 "data.loader.batch_size=4", "data.train.loader.drop_last=false", *overrides)
    cfg["imports"] = ["tests.components"]
    cfg["model"] = {"type": "NoNormNet"}
    cfg["optimizer"] = {"type": "SGD", "args": {"lr": 0.5}}
    return cfg


def _params(trainer):
    return [p.detach().clone() for p in trainer.model.parameters()]


def test_micro_batches_keep_the_effective_batch(config):
    whole = _params(run_training(_no_norm(config, "name=whole"))[0])
    micro = _params(run_training(_no_norm(config, "name=micro", "trainer.micro_batch_size=3"))[0])  # chunks 3 + 1
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(whole, micro))


def test_auto_micro_batch_backs_off_on_out_of_memory(config, monkeypatch):
    real = components.NoNormNet.forward
    sizes = []

    def forward(self, x):
        if not torch.is_grad_enabled():  # validation is not what the option is about
            return real(self, x)
        sizes.append(x.shape[0])
        if x.shape[0] > 1:
            raise torch.OutOfMemoryError("simulated: only one sample fits")
        return real(self, x)

    monkeypatch.setattr(components.NoNormNet, "forward", forward)
    trainer, _ = run_training(_no_norm(config, "name=auto", "trainer.micro_batch_size=auto"))
    assert trainer.micro_batch == 1 and sizes[:3] == [4, 2, 1]  # the probe halved twice
    monkeypatch.setattr(components.NoNormNet, "forward", real)
    explicit, _ = run_training(_no_norm(config, "name=explicit", "trainer.micro_batch_size=1"))
    assert all(torch.equal(a, b) for a, b in zip(_params(trainer), _params(explicit)))  # the probe left no trace


# One model per family, with the parts checkpointing must reach and an input shape.
FAMILY_MODELS = {
    "wrinkle U-Net": (TINY_MODEL, ["encoder.layer1", "decoder.blocks"], (2, 3, 64, 64)),
    "mask multi-head timm": ({"type": "ClassificationModel", "args": {
        "backbone": "resnet10t", "heads": {"mask": 3, "gender": 2, "age": 3}}}, ["backbone (timm)"], (2, 3, 64, 48)),
    "mask torchvision": ({"type": "ClassificationModel", "args": {"backbone": "tv-resnet18", "num_classes": 18}},
                         ["backbone.layer1", "backbone.layer4"], (2, 3, 64, 48)),
    "action ResNeXt-3D": ({"type": "ResNeXt3D", "args": {"num_classes": 5, "depth": 50, "layers": [1, 1, 1, 1],
                                                         "cardinality": 8, "stem_channels": 8, "base_planes": 16}},
                          ["layer1", "layer4"], (2, 3, 4, 32, 32)),
    "action C3D": ({"type": "C3D", "args": {"num_classes": 4, "widths": [8, 16, 32]}},
                   ["features (3 stages)"], (2, 3, 8, 32, 40)),
}


def _loss(out):
    return sum(o.square().mean() for o in out.values()) if isinstance(out, dict) else out.square().mean()


@pytest.mark.parametrize("family", FAMILY_MODELS)
def test_activation_checkpointing_gives_the_same_gradients(family, monkeypatch):
    block, expected, shape = FAMILY_MODELS[family]
    torch.manual_seed(0)
    plain = build_model({"model": block}).eval()  # eval: BatchNorm is not updated twice
    ckpt = copy.deepcopy(plain)
    parts = enable_activation_checkpointing(ckpt)
    assert all(any(p.startswith(e) for p in parts) for e in expected), parts
    calls = []  # wrapped blocks really recompute: they go through torch.utils.checkpoint
    real = checkpointing.checkpoint
    monkeypatch.setattr(checkpointing, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    timm_parts = [p for p in parts if p.endswith("(timm)")]
    for p in timm_parts:  # timm checkpoints its own blocks once this flag is on
        name = p.split(" ")[0]
        assert (ckpt if name == "model" else ckpt.get_submodule(name)).grad_checkpointing, p
    x = torch.randn(*shape)
    for m in (plain, ckpt):
        m.zero_grad()
        with torch.enable_grad():
            m.train()
            for mod in m.modules():  # train-mode checkpointing, eval-mode BatchNorm statistics
                if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                    mod.eval()
            _loss(m(x)).backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name
    assert plain.state_dict().keys() == ckpt.state_dict().keys()
    assert len(calls) >= len(parts) - len(timm_parts)  # every wrapped block ran through checkpoint


def test_copies_of_a_checkpointed_model_run_their_own_weights():
    model = build_model({"model": TINY_MODEL}).eval()
    enable_activation_checkpointing(model)
    twin = copy.deepcopy(model)  # what EMA and SWA do
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(0.5)
    x = torch.randn(1, 3, 64, 64)
    model.train(), twin.train()
    assert not torch.allclose(model(x), twin(x))


def test_a_model_without_known_blocks_is_a_clear_config_error(config):
    from utils.errors import ConfigError

    with pytest.raises(ConfigError, match="trainer.activation_checkpointing: NoNormNet: no blocks known"):
        run_training(_no_norm(config, "trainer.activation_checkpointing=true"))
