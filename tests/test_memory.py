"""Memory options change how a step is computed, never what it computes."""
import copy

import pytest
import torch

import tests.components as components
from conftest import TINY_MODEL
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


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = build_model({"model": TINY_MODEL}).eval()  # eval: BatchNorm is not updated twice
    ckpt = copy.deepcopy(plain)
    parts = enable_activation_checkpointing(ckpt)
    assert "encoder.layer1" in parts and any(p.startswith("decoder.blocks") for p in parts)
    x = torch.randn(2, 3, 64, 64)
    for m in (plain, ckpt):
        m.zero_grad()
        with torch.enable_grad():
            m.train()
            for mod in m.modules():  # train-mode checkpointing, eval-mode BatchNorm statistics
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.eval()
            m(x).square().mean().backward()
    for (name, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6), name
    assert plain.state_dict().keys() == ckpt.state_dict().keys()


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
