"""Segmentation models from segmentation-models-pytorch, behind one registered name.

    "model": {"type": "SegmentationModel",
              "args": {"arch": "Unet", "encoder_name": "resnet34", "encoder_weights": null}}

`arch` is any smp architecture (Unet, UnetPlusPlus, FPN, ...); `encoder_name` any smp
encoder or "tu-<timm model>". `encoder_weights` is null (random init, the default: nothing
is downloaded), a local weights file for the encoder (a path or package:<package>/<file>:
an ImageNet classifier's file works, e.g. torchvision's for smp's resnet / mobilenet_v2
encoders, timm's for "tu-" ones), or an smp weight name such as "imagenet" (downloaded
through the Hugging Face hub; cached files load with HF_HUB_OFFLINE=1).
Returns the smp model itself, so its weights load into plain smp code too.
"""
import logging

import segmentation_models_pytorch as smp
import torch
import torch.nn as nn

from utils.registry import MODELS, unknown_name

from .pretrained import hub_weights, is_weights_file, load_into

log = logging.getLogger("facetrain")


def _archs():
    return {cls.__name__: cls for cls in smp.__dict__.values()
            if isinstance(cls, type) and issubclass(cls, smp.base.SegmentationModel)
            and cls is not smp.base.SegmentationModel}


def _check_encoder(name):
    if name.startswith("tu-"):
        import timm

        if not timm.is_model(name[3:]):
            unknown_name("timm encoder", name[3:], timm.list_models(), "model.args.encoder_name (after 'tu-')")
    elif name not in smp.encoders.get_encoder_names():
        unknown_name("encoder", name, smp.encoders.get_encoder_names() + ["tu-<any timm model>"],
                 "model.args.encoder_name")


@MODELS.register
def SegmentationModel(arch: str = "Unet", encoder_name: str = "resnet34", encoder_weights=None,
                      in_channels: int = 3, classes: int = 1, **kwargs):
    archs = _archs()
    if arch not in archs:
        by_lower = {a.lower(): a for a in archs}
        if arch.lower() not in by_lower:
            unknown_name("architecture", arch, list(archs), "model.args.arch")
        arch = by_lower[arch.lower()]
    _check_encoder(encoder_name)
    _check_kwargs(archs[arch], arch, encoder_name, kwargs)
    local = encoder_weights is not None and is_weights_file(encoder_weights)
    with hub_weights(f"the {encoder_name} encoder", "model.args.encoder_weights"):
        model = archs[arch](encoder_name=encoder_name, encoder_weights=None if local else encoder_weights,
                            in_channels=in_channels, classes=classes, **kwargs)
    if local:
        load_into(model.encoder, encoder_weights, f"the {encoder_name} encoder", "model.args.encoder_weights")
    _drop_unused_encoder_stages(model, in_channels)
    return model


def _check_kwargs(cls, arch, encoder_name, kwargs):
    """smp passes arguments its architecture does not take to the encoder, and its own encoders drop
    them silently: a misspelled `encoder_nme` would train the default. Only timm encoders (`tu-`)
    take extra arguments (timm.create_model's, e.g. drop_path_rate)."""
    import inspect

    if encoder_name.startswith("tu-"):
        return
    params = [n for n, p in inspect.signature(cls.__init__).parameters.items()
              if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    for key in kwargs:
        if key not in params:
            unknown_name(f"argument of {arch} with the {encoder_name} encoder", key, params, f"model.args.{key}",
                         listed="Accepted")


class NeverRuns(nn.Identity):
    """Stands where a module was removed because its output never reaches the model's output. Its old
    weights in a checkpoint are ignored on loading (utils/checkpoint.load_weights), so files written
    while the module was still there load as they are."""
    never_runs = True


def _drop_unused_encoder_stages(model, in_channels):
    """smp's encoders keep the stages beyond `encoder_depth` (MobileNetV2 even runs some and discards
    their output). They would fill optimizer state, EMA copies, checkpoints and exports, and DDP
    rejects parameters without gradients: every module of the encoder whose parameters get no gradient
    from a probe forward/backward is replaced by NeverRuns."""
    was_training = model.training
    model.eval()
    model(torch.zeros(1, in_channels, 64, 64)).sum().backward()  # zeros: no RNG is consumed
    removed = []

    def prune(module, prefix):
        for name, child in list(module.named_children()):
            params = list(child.parameters())
            if not params:
                continue
            if all(p.grad is None for p in params):
                setattr(module, name, NeverRuns())
                removed.append(prefix + name)
            elif any(p.grad is None for p in params):
                prune(child, f"{prefix}{name}.")

    prune(model.encoder, "encoder.")
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    if removed:
        log.debug(f"encoder stages not used at this encoder_depth, removed: {removed}")
