"""Datasets, transforms, samplers and loaders. Importing registers every built-in dataset."""
from . import (
    batch_mix,
    crop_sampling,
    ffhq_crop_wrinkles,
    ffhq_wrinkle,
    hmdb51,
    image_table,
    kinetics,
    mask_faces,
    pad_to_multiple,
    sample_weights,
    transforms,
    ucf101,
    video,
    wrinkle,
    wrinkle_parts,
)
from .loader import build_loader
from .transforms import build_transform

__all__ = ["build_loader", "build_transform"]
