"""A trained checkpoint as a ready-to-use predictor: used by the web demo (app.py) and tools/export.py.

    predictor = Predictor.from_checkpoint("saved/models/mask_multihead_quick/<run_id>/model_best.pth")
    predictor.predict(rgb)               # what its family gives for one input, e.g. for a face photo:
    predictor.predict_image(rgb)         #   {"mask": {"wear": 0.91, ...}, "gender": {...}, "age": {...}, ...}
    predictor.predict_wrinkles(rgb)      # wrinkle: WrinklePrediction(probability map, area fraction, overlay)
    predictor.predict_video("clip.mp4")  # action: {"action": {"walk": 0.8, ...}}

Everything comes from the checkpoint, through the same functions test.py uses: the model and the
weights the file stands for (EMA ones when the run monitored them, the averaged ones of
model_swa.pth), the decision threshold stored with them, the validation transform as
preprocessing, the inferer (TTA, padding to a multiple by the one rule of model/inference.py,
several views) and the class names. What depends on the task (how one input is predicted, the
input's layout, what an export adds) the checkpoint's family says (families/).
"""
import inspect
import json
from pathlib import Path

import torch
import torch.nn as nn

from data_loader import build_transform
from families import family_of
from families.wrinkle import WrinklePrediction
from trainer import build as B
from trainer.checkpoints import decision_threshold, load_model
from utils.errors import ConfigError
from utils.registry import DATASETS, import_builtins

from .preprocessing import describe

__all__ = ["ExportModule", "Predictor", "WrinklePrediction"]


class ExportModule(nn.Module):
    """The model with its outputs as a tuple in `names` order (one per head), as exporters want."""

    def __init__(self, model, names):
        super().__init__()
        self.model, self.names = model, list(names)

    def forward(self, x):
        out = self.model(x)
        return tuple(out[n] for n in self.names) if isinstance(out, dict) else out


class Predictor:
    def __init__(self, cfg, model, checkpoint="", class_names=None, device="cpu", threshold=None, labels=None):
        """`threshold`: the decision threshold of a model decided at one; `labels`: the classes the model was
        trained on (trainer/classes.py; from_checkpoint passes both as the checkpoint stores them)."""
        import_builtins()
        self.cfg, self.checkpoint, self.device = cfg, str(checkpoint), torch.device(device)
        self.model = model.to(self.device).eval()
        self.labels = labels
        self.family = family_of(cfg, labels)
        dataset, transform, _ = B.split_config(cfg, "val")
        self.dataset_type = DATASETS.get(dataset["type"], "data.dataset.type")
        self.dataset_args = dict(dataset.get("args") or {})
        self.transform_config = transform
        self.transform = build_transform(transform, "data.val.transform")
        self.inferer = B.build_inferer(cfg)
        self.preprocessing = describe(self.transform)
        self.output_names, self.class_names = self.family.outputs(self, class_names)
        self.threshold = self.family.threshold(self, threshold if threshold is not None else
                                               decision_threshold(cfg)[0])
        self.fixed_size = None  # [H, W] an export is made for, where the preprocessing keeps any size

    @classmethod
    def from_checkpoint(cls, path, weights="auto", device="cpu", class_names=None):
        """`class_names` (a list) names an action model's classes when its data root is not at hand."""
        import_builtins()
        model, ckpt, which = load_model(path, weights=weights)
        cfg = ckpt["config"]
        B.validate(cfg, training=False)
        return cls(cfg, model, path, class_names, B.resolve_device(device), decision_threshold(cfg, ckpt, which)[0],
                   ckpt.get("labels"))

    @property
    def name(self):
        return f"{self.cfg.get('name', 'model')} ({Path(self.checkpoint).parent.name}/{Path(self.checkpoint).name})"

    @property
    def takes_video(self):
        return self.family.takes == "video"

    def dataset_arg(self, name):
        """A dataset argument as validation used it: the config's value, else the dataset's default."""
        if name in self.dataset_args:
            return self.dataset_args[name]
        return inspect.signature(self.dataset_type).parameters[name].default

    # --- inputs ----------------------------------------------------------------------------
    @property
    def layout(self):
        return self.family.layout(self)

    @property
    def pad_divisor(self):
        """Inputs of free size are padded to a multiple of this: the inferer's divisor (1: no padding)."""
        return int(getattr(self.inferer, "divisor", 1))

    @property
    def input_size(self):
        return self.preprocessing["input_size"] or self.fixed_size

    def fix_input_size(self, height, width):
        """Export for one image size (`tools/export.py --input-size`): required by the partitioned
        model, whose regions are fractions of the image size; optional for other wrinkle models."""
        if self.preprocessing["input_size"] is not None:
            raise ConfigError(f"--input-size: this model's preprocessing already fixes the size "
                              f"{self.preprocessing['input_size']}")
        d = 1 if self.partitioned else self.pad_divisor
        if height % d or width % d or min(height, width) < 1:
            raise ConfigError(f"--input-size {height} {width}: this model takes sizes that are multiples of {d}")
        self.fixed_size = [int(height), int(width)]

    @property
    def partitioned(self):
        return type(self.model).__name__ == "PartitionedSegmenter"

    def example_input(self, batch=2):
        """A random input of the shape the model takes, for tracing and export."""
        h, w = self.input_size or (2 * self.pad_divisor, 3 * self.pad_divisor)
        shape = self.family.input_shape(self, h, w)
        return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(0)).to(self.device)

    def dynamic_axes(self):
        """Input axes of free size: the batch, and height/width when the preprocessing keeps any size."""
        axes = {0: "batch"}
        if self.input_size is None:
            axes.update({2: "height", 3: "width"})
        return axes

    def export_module(self):
        if self.partitioned:
            if self.model.regions.needs_image:
                raise ConfigError("a partitioned model whose regions follow detected landmarks cannot be exported "
                                  "(the detector runs outside the graph); export each part's model_best.pth instead")
            if self.input_size is None:
                raise ConfigError("a partitioned model is exported for one image size (its regions are fractions "
                                  "of it): give --input-size H W, the size of your aligned face images")
        return ExportModule(self.model, self.output_names).eval()

    # --- predictions -----------------------------------------------------------------------
    @torch.no_grad()
    def raw_outputs(self, x):
        """{output name: logits} of the bare model (what an exported file computes)."""
        out = self.model(x.to(self.device))
        return dict(out) if isinstance(out, dict) else {self.output_names[0]: out}

    @torch.no_grad()
    def predict(self, x):
        """What the family gives for one input: an RGB uint8 photo, or a video file for action models."""
        return self.family.predict(self, x)

    def predict_image(self, image):
        """Class probabilities of one RGB uint8 photo: {output: {class name: probability}}, per head
        (a one-label model's output is "class"). Face-mask models, three-head or 18-way, give both
        the heads and the 18 classes."""
        return self._expect("image", "classes", "predict_image is for image classifiers").predict(image)

    def predict_wrinkles(self, image):
        return self._expect("image", "mask", "predict_wrinkles is for wrinkle models").predict(image)

    def predict_video(self, path):
        """{"action": {class name: probability}} of a video file, sampled and transformed as validation did."""
        return self._expect("video", "classes", "predict_video is for action models").predict(path)

    def _expect(self, takes, gives, what):
        if (self.family.takes, self.family.gives) != (takes, gives):
            raise ConfigError(f"{self.name} is a {self.family} model; {what}")
        return self

    # --- description -----------------------------------------------------------------------
    def metadata(self):
        """What an exported file needs to be used without this repo; string values (lists and
        dicts as JSON), for ONNX metadata_props and TorchScript extra files alike."""
        meta = {
            "family": self.family.name, "model": self.cfg["model"]["type"], "config_name": self.cfg.get("name", ""),
            "checkpoint": Path(self.checkpoint).name, "layout": self.layout, "color": "RGB",
            "input_size": self.input_size, "mean": self.preprocessing["mean"],
            "std": self.preprocessing["std"], "max_pixel_value": self.preprocessing["max_pixel_value"],
            "normalize": "input = (pixel / max_pixel_value - mean) / std per channel, pixels RGB 0..255",
            "output_names": self.output_names, "class_names": self.class_names,
            "output_activation": self.family.activation,
            "transform": self.transform_config,
            # outside the graph: views (TTA, several clips) whose softmax/sigmoid probabilities are averaged
            "inference": self.cfg.get("inference") or {"type": "Direct"},
            **self.family.metadata(self),
        }
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
