"""A trained checkpoint as a ready-to-use predictor: used by the web demo (app.py) and tools/export.py.

    predictor = Predictor.from_checkpoint("saved/models/mask_multihead_quick/<run_id>/model_best.pth")
    predictor.predict_image(rgb)         # face: {"mask": {"wear": 0.91, ...}, "gender": {...}, "age": {...}, ...}
    predictor.predict_wrinkles(rgb)      # wrinkle: WrinklePrediction(probability map, area fraction, overlay)
    predictor.predict_video("clip.mp4")  # action: {"action": {"walk": 0.8, ...}}

Everything comes from the checkpoint, through the same functions test.py uses: the model and the
weights the file stands for (EMA ones when the run monitored them, the averaged ones of
model_swa.pth), the decision threshold stored with them, the validation transform as
preprocessing, the inferer (TTA, padding to a multiple by the one rule of model/inference.py,
several views) and the class names of the task family.
"""
import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from data_loader import build_transform
from data_loader.mask_faces import MaskFaceDataset
from data_loader.mask_labels import HEADS, head_classes
from data_loader.mask_labels import class_names as face_class_names
from data_loader.mask_pairs import MaskPairDataset
from data_loader.video import VideoDataset
from data_loader.video_index import read_annotations, scan_split
from data_loader.video_io import VIDEO_EXTS
from logger.predictions import overlay
from model.face_decode import probabilities as face_probabilities
from model.inference import PAD_RULE
from trainer import build as B
from trainer.checkpoints import decision_threshold, load_model
from trainer.classes import output_classes
from utils.errors import ConfigError, DataError
from utils.registry import DATASETS, import_builtins

from .preprocessing import apply, describe

log = logging.getLogger("facetrain")
FAMILIES = ((MaskPairDataset, "wrinkle"), (MaskFaceDataset, "face"), (VideoDataset, "action"))
# Dataset arguments that say where the training data was, not how a clip is sampled.
VIDEO_DATA_ARGS = ("root", "split", "annotation_file", "classes", "verify", "on_error", "test_mode", "files")


@dataclass
class WrinklePrediction:
    probability: np.ndarray  # (H, W) float32 wrinkle probability at the image's size
    threshold: float
    area_fraction: float  # share of pixels at or above the threshold
    overlay: np.ndarray  # (H, W, 3) RGB uint8: the image with wrinkle pixels tinted red


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
        """`threshold`: the wrinkle decision threshold; `labels`: the classes the model was trained on
        (trainer/classes.py; from_checkpoint passes both as the checkpoint stores them)."""
        import_builtins()
        self.cfg, self.checkpoint, self.device = cfg, str(checkpoint), torch.device(device)
        self.model = model.to(self.device).eval()
        self.family = family_of(cfg, labels)
        self.labels = labels
        dataset, transform, _ = B.split_config(cfg, "val")
        self.dataset_args = dict(dataset.get("args") or {})
        self.transform_config = transform
        self.transform = build_transform(transform, "data.val.transform")
        self.inferer = B.build_inferer(cfg)
        self.preprocessing = describe(self.transform)
        self.output_names, self.class_names = self._outputs(class_names)
        self.threshold = None
        if self.family == "wrinkle":
            self.threshold = threshold if threshold is not None else decision_threshold(cfg)[0]
            self.threshold = 0.5 if self.threshold is None else self.threshold  # no metric: BinarySegMetrics' default
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
        return self.family == "action"

    # --- inputs ----------------------------------------------------------------------------
    @property
    def layout(self):
        if self.family != "action":
            return "NCHW"
        return "NTCHW" if self.video_arg("layout") == "TCHW" else "NCTHW"

    def video_arg(self, name):
        """A VideoDataset argument as validation used it: the config's value, else the dataset's default."""
        return self.dataset_arg(name, VideoDataset)

    def dataset_arg(self, name, dataset=MaskFaceDataset):
        """A dataset argument as validation used it: the config's value, else `dataset`'s default."""
        if name in self.dataset_args:
            return self.dataset_args[name]
        return inspect.signature(dataset.__init__).parameters[name].default

    @property
    def frames(self):
        """Frames per input of an action model (one view): clip_len, times num_clips for 2D models (TSN)."""
        clip_len = self.video_arg("clip_len")
        return clip_len * self.video_arg("num_clips") if self.layout == "NTCHW" else clip_len

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
        shape = {"NCHW": (3, h, w), "NCTHW": (3, self.frames, h, w), "NTCHW": (self.frames, 3, h, w)}[self.layout]
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
    def predict_image(self, image):
        """Class probabilities of one RGB uint8 photo: {output: {class name: probability}}, per head
        (a one-label model's output is "class"). Face-mask models, three-head or 18-way, give both
        the heads and the 18 classes."""
        if self.family not in ("face", "image"):
            raise ConfigError(f"{self.name} is a {self.family} model; predict_image is for image classifiers")
        x = apply(self.transform, image)[None].to(self.device)
        out = self.inferer(self.model, x)
        if self.family == "face":
            target = self.dataset_args.get("target", "heads")
            probs = face_probabilities(out, "auto" if target in ("heads", "class") else target)
            names = {**self.class_names, "class": face_class_names(), **head_classes(self.dataset_arg("age_bins"))}
        else:
            probs = {k: v.float().softmax(-1) for k, v in (out.items() if isinstance(out, dict) else [("class", out)])}
            names = {**self.class_names, "class": self.class_names.get("logits")}
        return {key: dict(zip(names[key], p[0].tolist())) for key, p in probs.items()}

    @torch.no_grad()
    def predict_wrinkles(self, image):
        if self.family != "wrinkle":
            raise ConfigError(f"{self.name} is a {self.family} model; predict_wrinkles is for wrinkle models")
        x = apply(self.transform, image)[None].to(self.device)
        prob = torch.sigmoid(self.inferer(self.model, x).float())[0, 0].cpu().numpy()
        if prob.shape != image.shape[:2]:  # the transform resized: back to the photo's pixels
            import cv2

            prob = cv2.resize(prob, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        on = prob >= self.threshold
        return WrinklePrediction(prob, self.threshold, float(on.mean()), overlay(image, on))

    @torch.no_grad()
    def predict_video(self, path):
        """{"action": {class name: probability}} of a video file, sampled and transformed as validation did."""
        if self.family != "action":
            raise ConfigError(f"{self.name} is a {self.family} model; predict_video is for action models")
        path = Path(path)
        if path.suffix.lower() not in VIDEO_EXTS:
            raise DataError(f"{path.name} is not a video file ({', '.join(VIDEO_EXTS)})")
        args = {k: v for k, v in self.dataset_args.items() if k not in VIDEO_DATA_ARGS}
        # an unlabelled one-clip dataset, sampled and transformed as validation read its clips
        try:
            sample = VideoDataset(path.parent, "upload", self.transform, files=[path], **args)[0]
        except DataError as e:  # name the file as the user knows it (an upload sits in a temporary folder)
            raise DataError(str(e).replace(str(path), path.name)) from e
        logits = self.inferer(self.model, sample["input"][None].to(self.device))
        probs = logits.float().softmax(-1)[0].tolist()
        return {"action": dict(zip(self.class_names[self.output_names[0]], probs))}

    # --- description -----------------------------------------------------------------------
    def metadata(self):
        """What an exported file needs to be used without this repo; string values (lists and
        dicts as JSON), for ONNX metadata_props and TorchScript extra files alike."""
        meta = {
            "family": self.family, "model": self.cfg["model"]["type"], "config_name": self.cfg.get("name", ""),
            "checkpoint": Path(self.checkpoint).name, "layout": self.layout, "color": "RGB",
            "input_size": self.input_size, "mean": self.preprocessing["mean"],
            "std": self.preprocessing["std"], "max_pixel_value": self.preprocessing["max_pixel_value"],
            "normalize": "input = (pixel / max_pixel_value - mean) / std per channel, pixels RGB 0..255",
            "output_names": self.output_names, "class_names": self.class_names,
            "output_activation": "sigmoid" if self.family == "wrinkle" else "softmax",
            "transform": self.transform_config,
            # outside the graph: views (TTA, several clips) whose softmax/sigmoid probabilities are averaged
            "inference": self.cfg.get("inference") or {"type": "Direct"},
        }
        if self.family == "action":
            meta["frames"] = self.frames
            meta["sampling"] = self.sampling()
        if self.family == "wrinkle":
            meta.update(threshold=self.threshold, pad_to_multiple=self.pad_divisor,
                        pad=self.pad_rule())
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}

    def sampling(self):
        """How an action model's frames are chosen from a video, as validation chose them."""
        return {**{k: self.video_arg(k) for k in ("clip_len", "frame_interval", "num_clips", "crops", "crop_size",
                                                  "out_of_bound")},
                "rule": "mmaction2 SampleFrames, test mode: a clip spans (clip_len - 1) * frame_interval + 1 frames; "
                        "one clip starts at max(0, frames - span) // 2, several at round(k * max(0, frames - span) "
                        "/ (num_clips - 1)); clip_len 1: the centre frame of each of num_clips equal segments; "
                        "indices past the end wrap (loop) or repeat the last frame (repeat_last)"}

    def pad_rule(self):
        """How an input of free size is padded before the model and its output cropped back (PAD_RULE)."""
        if self.pad_divisor <= 1 or self.input_size is not None:
            return "none: the input goes to the model at its own size"
        return (f"pad height and width up to multiples of {self.pad_divisor} at the {PAD_RULE['sides']} by "
                f"{PAD_RULE['mode']} (numpy.pad mode='reflect', cv2.BORDER_REFLECT_101), or {PAD_RULE['fallback']}; "
                "crop the output back to the input size")

    def _outputs(self, class_names):
        """(output names, {output name: class names}): the classes stored with the checkpoint (the
        dataset's, trainer/classes.py); checkpoints written before that are read as they were."""
        if self.family == "wrinkle":
            return ["logits"], {"logits": ["wrinkle"]}
        if self.labels and not class_names:
            names = output_classes(self.labels)
            return list(names), names
        if self.family == "face":
            target = self.dataset_args.get("target", "heads")
            heads = head_classes(self.dataset_arg("age_bins"))
            if target == "heads":
                return list(HEADS), heads
            return ["logits"], {"logits": face_class_names() if target == "class" else heads[target]}
        names = list(class_names) if class_names else action_class_names(self.dataset_args)
        classes = self.cfg["model"]["args"].get("num_classes")
        if classes is not None and len(names) != classes:
            if class_names:
                raise ConfigError(f"{len(names)} class names given for a model with {classes} classes")
            log.warning(f"{self.checkpoint}: the data root names {len(names)} classes, the model has {classes}; "
                        "classes are shown by number")
            names = [f"class {i}" for i in range(classes)]
        return ["logits"], {"logits": names}


def family_of(cfg, labels=None):
    """'wrinkle', 'face' (the face-mask data), 'action', or 'image' (any other labelled image set),
    from the dataset the config trains on."""
    dataset_type = B.split_config(cfg, "val")[0].get("type")
    cls = DATASETS.get(dataset_type, "data.dataset.type")
    for base, family in FAMILIES:
        if isinstance(cls, type) and issubclass(cls, base):
            return family
    if labels or getattr(cls, "image_classification", False):
        return "image"
    raise ConfigError(f"data.dataset.type: {dataset_type} is not a dataset of a known task family "
                      f"({', '.join(b.__name__ for b, _ in FAMILIES)}, or an image dataset with classes); "
                      "the predictor cannot tell its outputs")


def action_class_names(dataset_args):
    """The class names the dataset gave its labels: `classes` in the config, else those found in
    the data root (class folders, or the annotation file), as training found them."""
    if dataset_args.get("classes"):
        return list(dataset_args["classes"])
    root = Path(dataset_args.get("root", ""))
    try:
        if dataset_args.get("annotation_file"):
            annotation = Path(dataset_args["annotation_file"])
            return read_annotations(annotation if annotation.is_absolute() else root / annotation, root)[1]
        return scan_split(root, dataset_args.get("split", "val"))[1]
    except (DataError, OSError) as e:
        log.warning(f"class names unknown: the training data is not at {root} ({e}); give class_names")
        return []

