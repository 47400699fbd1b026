"""Activation checkpointing: keep only block inputs in the forward pass and recompute the
block in backward. Trades about a third more compute for much less activation memory, which
is what lets the 1248x1344 wrinkle U-Net fit small GPUs.

timm models (classifier and frame-model backbones, smp's "tu-" encoders) use timm's own
`set_grad_checkpointing`; the stages of ResNet-style networks (smp encoders, torchvision 2D/3D
ResNets, ResNeXt-3D) and smp's decoder blocks are wrapped in torch.utils.checkpoint. Weights
and state-dict keys are unchanged. Note: a BatchNorm inside a recomputed block updates its
running statistics twice per step (the price of every checkpointing scheme that recomputes).
"""
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint


_CLASSES = {}


def _wrap(module):
    """Swap the block's class for a subclass whose forward is checkpointed. (Unlike patching
    `forward` on the instance, this survives the deep copies that EMA and SWA make.)"""
    base = type(module)
    if base not in _CLASSES:
        def forward(self, *args, **kwargs):
            if self.training and torch.is_grad_enabled():
                return checkpoint(base.forward, self, *args, use_reentrant=False, **kwargs)
            return base.forward(self, *args, **kwargs)

        _CLASSES[base] = type(f"Checkpointed{base.__name__}", (base,), {"forward": forward})
    module.__class__ = _CLASSES[base]


def _timm_or_stages(module, prefix, done):
    """A timm model checkpoints itself (smp's "tu-" encoders keep theirs in `.model`); the
    stages of a ResNet-style network (torchvision 2D/3D ResNets, smp encoders) get wrapped."""
    for m in (module, getattr(module, "model", None)):
        if hasattr(m, "set_grad_checkpointing"):
            m.set_grad_checkpointing(True)
            done.append(f"{prefix.rstrip('.') or 'model'} (timm)")
            return
    for name in ("layer1", "layer2", "layer3", "layer4"):
        stage = getattr(module, name, None)
        if isinstance(stage, nn.Sequential):
            _wrap(stage)
            done.append(f"{prefix}{name}")


def enable_activation_checkpointing(model):
    """Turn checkpointing on in place; returns the names of the checkpointed parts."""
    done = []
    _timm_or_stages(model, "", done)
    for attr in ("backbone", "encoder"):  # classifiers keep a backbone, smp models an encoder
        part = getattr(model, attr, None)
        if isinstance(part, nn.Module):
            _timm_or_stages(part, f"{attr}.", done)
    decoder = getattr(model, "decoder", None)
    if decoder is not None:
        for name, child in decoder.named_children():
            if isinstance(child, (nn.ModuleList, nn.ModuleDict)):
                blocks = child.items() if isinstance(child, nn.ModuleDict) else enumerate(child)
                for key, block in blocks:
                    if any(True for _ in block.parameters()):
                        _wrap(block)
                        done.append(f"decoder.{name}.{key}")
    if not done:
        raise ValueError(f"{type(model).__name__}: no blocks known to checkpoint (supported: timm models, "
                         "ResNet-style networks, smp models, and models whose .backbone is one of these)")
    return done
