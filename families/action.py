"""Action clips (VideoDataset and the public readers built on it: UCF101, HMDB51, Kinetics). A video file is
sampled and transformed as validation read its clips; label errors become an annotation file with the
flagged clips relabelled."""
import inspect
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from data_loader.video import VideoDataset
from data_loader.video_index import read_annotations, scan_split
from data_loader.video_io import VIDEO_EXTS
from utils.errors import ConfigError, DataError
from utils.registry import FAMILIES

from .image import ImageFamily

log = logging.getLogger("facetrain")
# Dataset arguments that say where the training data was, not how a clip is sampled.
DATA_ARGS = ("root", "split", "annotation_file", "classes", "verify", "on_error", "test_mode", "files", "fold",
             "n_folds", "split_seed")
SAMPLING = ("clip_len", "frame_interval", "num_clips", "crops", "crop_size", "out_of_bound")


@FAMILIES.register(name="action")
class ActionFamily(ImageFamily):
    name = "action"
    takes = "video"
    writer = {"type": "ClipPredictionWriter", "args": {"json_name": None}}

    def outputs(self, predictor, class_names=None):
        if predictor.labels and not class_names:
            return super().outputs(predictor)
        # given names (an export whose data root is gone), or a checkpoint that predates its labels
        names = list(class_names) if class_names else data_class_names(predictor.dataset_args)
        classes = predictor.cfg["model"]["args"].get("num_classes")
        if classes is not None and len(names) != classes:
            if class_names:
                raise ConfigError(f"{len(names)} class names given for a model with {classes} classes")
            log.warning(f"{predictor.checkpoint}: the data root names {len(names)} classes, the model has {classes}; "
                        "classes are shown by number")
            names = [f"class {i}" for i in range(classes)]
        return ["logits"], {"logits": names}

    def layout(self, predictor):
        return "NTCHW" if predictor.dataset_arg("layout") == "TCHW" else "NCTHW"

    def frames(self, predictor):
        """Frames per input (one view): clip_len, times num_clips for 2D models (TSN)."""
        clip_len = predictor.dataset_arg("clip_len")
        return clip_len * predictor.dataset_arg("num_clips") if self.layout(predictor) == "NTCHW" else clip_len

    def input_shape(self, predictor, height, width):
        t = self.frames(predictor)
        return (t, 3, height, width) if self.layout(predictor) == "NTCHW" else (3, t, height, width)

    def predict(self, predictor, path):
        """{"action": {class name: probability}} of a video file, sampled and transformed as validation did."""
        path = Path(path)
        if path.suffix.lower() not in VIDEO_EXTS:
            raise DataError(f"{path.name} is not a video file ({', '.join(VIDEO_EXTS)})")
        takes = inspect.signature(VideoDataset).parameters
        args = {k: v for k, v in predictor.dataset_args.items() if k in takes and k not in DATA_ARGS}
        try:  # an unlabelled one-clip dataset, sampled and transformed as validation read its clips
            sample = VideoDataset(path.parent, "upload", predictor.transform, files=[path], **args)[0]
        except DataError as e:  # name the file as the user knows it (an upload sits in a temporary folder)
            raise DataError(str(e).replace(str(path), path.name)) from e
        logits = predictor.inferer(predictor.model, sample["input"][None].to(predictor.device))
        probs = logits.float().softmax(-1)[0].tolist()
        return {"action": dict(zip(predictor.class_names[predictor.output_names[0]], probs))}

    def metadata(self, predictor):
        sampling = {k: predictor.dataset_arg(k) for k in SAMPLING}
        sampling["rule"] = ("mmaction2 SampleFrames, test mode: a clip spans (clip_len - 1) * frame_interval + 1 "
                            "frames; one clip starts at max(0, frames - span) // 2, several at round(k * max(0, "
                            "frames - span) / (num_clips - 1)); clip_len 1: the centre frame of each of num_clips "
                            "equal segments; indices past the end wrap (loop) or repeat the last frame (repeat_last)")
        return {"frames": self.frames(predictor), "sampling": sampling}

    def files(self, cfg, paths):
        return list(paths)  # a clip's path is its file

    def fixes(self, issues, persons, heads, cfg, out):
        """The clips' annotation file with the flagged clips given the suggested class."""
        data = cfg.get("data") or {}
        root = ((data.get("dataset") or {}).get("args") or {}).get("root", ".")
        path = out / "annotations_fixed.csv"
        label = np.where(issues["issue"], issues["suggested"], issues["given"])
        table = pd.DataFrame({"path": [os.path.relpath(f, root) for f in issues["file"]], "label": label})
        table.sort_values("path").to_csv(path, index=False)
        log.info(f"{int(issues['issue'].sum())} clip(s) relabelled in {path}: review it, then train with -o "
                 f"data.dataset.args.root={root} data.train.dataset.args.annotation_file={Path(path).resolve()}")
        return {"annotations_fixed": path}


def data_class_names(dataset_args):
    """The class names the dataset gave its labels: `classes` in the config, else those found in the data
    root (class folders, or the annotation file), as training found them."""
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
