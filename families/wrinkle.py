"""Wrinkle segmentation (MaskPairDataset: our folders, the public FFHQ layouts, the partitioned face parts).
A photo gets a wrinkle probability map cut at the checkpoint's decision threshold; folds write probability
maps gathered into oof_segmentation.csv; label errors are the doubted pixels of each mask."""
import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from deploy.preprocessing import apply
from logger.predictions import overlay
from model.inference import PAD_RULE
from model.metrics.segmentation import BinarySegMetrics
from utils.errors import ConfigError
from utils.registry import FAMILIES

from .base import Family


@dataclass
class WrinklePrediction:
    probability: np.ndarray  # (H, W) float32 wrinkle probability at the image's size
    threshold: float
    area_fraction: float  # share of pixels at or above the threshold
    overlay: np.ndarray  # (H, W, 3) RGB uint8: the image with wrinkle pixels tinted red


@FAMILIES.register(name="wrinkle")
class WrinkleFamily(Family):
    name = "wrinkle"
    gives = "mask"
    activation = "sigmoid"
    writer = {"type": "SegmentationWriter", "args": {"npy": True, "png": False, "overlay": False,
                                                     "npy_dtype": "float16"}}
    predictions = "npy"
    oof_file = "oof_segmentation.csv"

    def outputs(self, predictor, class_names=None):
        return ["logits"], {"logits": ["wrinkle"]}

    def color(self, predictor):
        """The input's channels: RGB, and the texture map of FFHQ-Wrinkle's fine-tuning stage (texture_channel)."""
        return "RGB + texture map" if predictor.dataset_args.get("texture_channel") else "RGB"

    def input_shape(self, predictor, height, width):
        return (3 if self.color(predictor) == "RGB" else 4, height, width)

    def threshold(self, predictor, threshold):
        if threshold is not None:
            return threshold
        # a config without a thresholded metric: the segmentation metric's own default
        return inspect.signature(BinarySegMetrics).parameters["threshold"].default

    @torch.no_grad()
    def predict(self, predictor, image):
        """A WrinklePrediction of one RGB uint8 photo, at the photo's size."""
        if self.color(predictor) != "RGB":
            raise ConfigError(f"{predictor.name} takes {self.color(predictor)} "
                              "(data.dataset.args.texture_channel), which a photo alone does not give; evaluate it "
                              "with test.py on its dataset, or export it (the file takes all the channels)")
        x = apply(predictor.transform, image)[None].to(predictor.device)
        prob = torch.sigmoid(predictor.inferer(predictor.model, x).float())[0, 0].cpu().numpy()
        if prob.shape != image.shape[:2]:  # the transform resized: back to the photo's pixels
            import cv2

            prob = cv2.resize(prob, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        on = prob >= predictor.threshold
        return WrinklePrediction(prob, predictor.threshold, float(on.mean()), overlay(image, on))

    def metadata(self, predictor):
        return {"threshold": predictor.threshold, "pad_to_multiple": predictor.pad_divisor,
                "pad": self.pad_rule(predictor), "color": self.color(predictor)}

    def pad_rule(self, predictor):
        """How an input of free size is padded before the model and its output cropped back (PAD_RULE)."""
        d = predictor.pad_divisor
        if d <= 1 or predictor.input_size is not None:
            return "none: the input goes to the model at its own size"
        return (f"pad height and width up to multiples of {d} at the {PAD_RULE['sides']} by {PAD_RULE['mode']} "
                f"(numpy.pad mode='reflect', cv2.BORDER_REFLECT_101), or {PAD_RULE['fallback']}; crop the output "
                "back to the input size")

    # --- k-fold ----------------------------------------------------------------------------
    def collect(self, cfg, folds, out_dir):
        """oof_segmentation.csv: per held-out image its name, image, mask, probability map (.npy) and fold."""
        from trainer.build import build_dataset

        rows = []
        for k, (fold_cfg, oof_dir) in folds.items():
            held = build_dataset(fold_cfg, "val")
            for i, (image, mask) in enumerate(held.items):
                name = held.name_of(i)
                rows.append({"name": name, "image": str(image), "mask": str(mask),
                             "probability": str(Path(oof_dir) / self.predictions / f"{name}.npy"), "fold": k})
        pd.DataFrame(rows).to_csv(out_dir / self.oof_file, index=False)
        return {"oof_segmentation": str(out_dir / self.oof_file)}

    # --- label errors ----------------------------------------------------------------------
    def find_label_errors(self, oof, cfg, out, review, method="issues"):
        import cv2

        from logger.label_review import draw_segmentation_review, picture
        from utils.errors import DataError

        from .segmentation_errors import load, score_images, suspicious

        rows = pd.read_csv(oof, keep_default_na=False)
        missing = {"name", "image", "mask", "probability"} - set(rows.columns)
        if missing:
            raise DataError(f"{oof}: missing column(s) {sorted(missing)}; is it tools/kfold.py's "
                            "oof_segmentation.csv?")
        table, thresholds = score_images(rows.to_dict("records"), method, progress=True)
        table.insert(2, "head", "segmentation")  # one schema with the classification lists
        table.to_csv(out / "issues.csv", index=False, float_format="%.6g")
        items = []
        for r in table.head(review).to_dict("records"):
            labels, probs = load({**r, "image": r["file"]})
            doubted = suspicious(labels, probs, thresholds)
            suggested = np.where(doubted, 1 - labels, labels).astype(np.uint8) * 255
            (out / "suggested_masks").mkdir(exist_ok=True)
            cv2.imwrite(str(out / "suggested_masks" / Path(r["mask"]).name), suggested)
            items.append((f"{r['name']} (quality {r['quality']:.3f})", picture(r["file"]), labels == 1, doubted))
        return {"issues": out / "issues.csv", "review": draw_segmentation_review(items, out / "review.png"),
                "suggested_masks": out / "suggested_masks"}
