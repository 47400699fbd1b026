"""Models, losses, metrics and inferers. Importing registers every built-in."""
from . import (
    c3d,
    classification,
    finetune,
    inference,
    losses,
    metrics,
    partitioned,
    resnext3d,
    segmentation,
    tta,
    video,
    video_inference,
)
