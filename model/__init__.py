"""Models, losses, metrics and inferers. Importing registers every built-in."""
from . import inference, losses, metrics, segmentation  # noqa: F401
