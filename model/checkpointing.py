"""Activation checkpointing: keep only block inputs in the forward pass and recompute the
block in backward. Trades about a third more compute for much less activation memory, which
is what lets the 1248x1344 wrinkle U-Net fit small GPUs.

timm models (classifier and frame-model backbones, smp's "tu-" encoders) use timm's own
`set_grad_checkpointing`; the stages of ResNet-style networks (smp encoders, torchvision 2D/3D
ResNets, ResNeXt-3D) and smp's decoder blocks are wrapped in torch.utils.checkpoint, and a model
that is one plain stack of layers in `.features` (C3D) is checkpointed stage by stage (stages end at
each pooling layer). Weights
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


def _stages(sequential):
    """The layers of a plain stack grouped into stages that end at each pooling layer: a stage's input
    is then a pooling output, which no in-place activation of the stage overwrites."""
    stages, current = [], []
    for layer in sequential:
        current.append(layer)
        if isinstance(layer, (nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d)):
            stages.append(current)
            current = []
    return stages + ([current] if current else [])


def _run(layers, x):
    for layer in layers:
        x = layer(x)
    return x


def _wrap_sequential(sequential):
    """An nn.Sequential whose stages (_stages) are each recomputed in backward during training."""
    base = type(sequential)
    if ("stages", base) not in _CLASSES:
        def forward(self, x):
            if not (self.training and torch.is_grad_enabled()):
                return base.forward(self, x)
            for layers in _stages(self):
                x = checkpoint(_run, layers, x, use_reentrant=False)
            return x

        _CLASSES["stages", base] = type(f"Checkpointed{base.__name__}", (base,), {"forward": forward})
    sequential.__class__ = _CLASSES["stages", base]


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
    features = getattr(model, "features", None)
    if not done and isinstance(features, nn.Sequential) and len(_stages(features)) > 1:
        _wrap_sequential(features)  # a plain stack of layers (C3D): checkpointed stage by stage
        done.append(f"features ({len(_stages(features))} stages)")
    if not done:
        raise ValueError(f"{type(model).__name__}: no blocks known to checkpoint (supported: timm models, "
                         "ResNet-style networks, smp models, a plain stack of layers in .features, and models "
                         "whose .backbone is one of these)")
    return done
