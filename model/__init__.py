"""Models, losses, metrics and inferers. Importing registers every built-in."""
from . import inference, losses, metrics, segmentation  # noqa: F401
from . import classification, tta  # noqa: F401  (face-mask family)
from . import c3d, finetune, resnext3d, video, video_inference  # noqa: F401
from . import partitioned  # noqa: F401  (face parts)
