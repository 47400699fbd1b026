"""Datasets, transforms, samplers and loaders. Importing registers every built-in dataset."""
from . import transforms, wrinkle  # noqa: F401
from . import ffhq_crop_wrinkles, ffhq_wrinkle  # noqa: F401  (public wrinkle sets as published)
from . import batch_mix, mask_faces, samplers  # noqa: F401  (face-mask family)
from . import video  # noqa: F401
from . import hmdb51, kinetics, ucf101  # noqa: F401  (public action sets as published)
from . import image_table  # noqa: F401  (any labelled image set)
from . import crop_sampling, pad_to_multiple, wrinkle_parts  # noqa: F401  (crops, face parts)
from .loader import build_loader
from .transforms import build_transform

__all__ = ["build_loader", "build_transform"]
