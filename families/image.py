"""Any labelled image set (ImageTableDataset, and any dataset with classes that names no family), and the
classification the face and action families build on: softmax probabilities per output, predictions.csv
per fold gathered into oof_predictions.csv, fold ensembles by averaging, label errors by confident
learning."""
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from deploy.preprocessing import apply
from logger.class_predictions import ensemble_files, prob_columns
from trainer.classes import output_classes
from utils.config import get_path
from utils.errors import ConfigError
from utils.registry import FAMILIES

from .base import Family, concat_folds


@FAMILIES.register(name="image")
class ImageFamily(Family):
    name = "image"
    writer_names_data_classes = True  # the writer's columns name the classes as the data does (labels.json)

    def outputs(self, predictor, class_names=None):
        if predictor.labels and not class_names:
            names = output_classes(predictor.labels)
            return list(names), names
        if class_names:
            return ["logits"], {"logits": list(class_names)}
        raise ConfigError(f"{predictor.checkpoint}: the checkpoint names no classes (it predates `labels`); give "
                          "the class names")

    def probabilities(self, predictor, outputs):
        """{output: (N, classes) probabilities}; a one-output model's output is "class"."""
        return {k: v.float().softmax(-1) for k, v in (outputs.items() if isinstance(outputs, dict)
                                                       else [("class", outputs)])}

    def class_names(self, predictor):
        return {**predictor.class_names, "class": predictor.class_names.get("logits")}

    def predict(self, predictor, image):
        """{output: {class name: probability}} of one RGB uint8 image, transformed as validation did."""
        x = apply(predictor.transform, image)[None].to(predictor.device)
        probs = self.probabilities(predictor, predictor.inferer(predictor.model, x))
        names = self.class_names(predictor)
        return {key: dict(zip(names[key], p[0].tolist())) for key, p in probs.items()}

    # --- k-fold ----------------------------------------------------------------------------
    def files(self, cfg, paths):
        """The image file of each sample of a predictions table (`path`, as the dataset names it)."""
        root = Path(get_path(cfg, "data.dataset.args.root", "."))
        return [str(root / p) for p in paths]

    def collect(self, cfg, folds, out_dir):
        oof = concat_folds({k: Path(d) / self.predictions for k, (_, d) in folds.items()}, "sample")
        if "file" not in oof.columns:  # the picture find_label_errors draws
            oof.insert(1 + ("group" in oof.columns) + ("clip" in oof.columns), "file", self.files(cfg, oof["path"]))
        oof.to_csv(out_dir / self.oof_file, index=False)
        return {"oof_predictions": str(out_dir / self.oof_file), "oof": scores(oof)}

    def ensemble(self, files, out_dir):
        return ensemble_files(files, out_dir)

    # --- label errors ----------------------------------------------------------------------
    def find_label_errors(self, oof, cfg, out, review, method=None):
        from .label_errors import find

        written, issues, persons, heads = find(oof, out, review, self.writer_names_data_classes)
        written.update(self.fixes(issues, persons, heads, cfg, out))
        return written

    def fixes(self, issues, persons, heads, cfg, out):
        """The family's fix file from the ranked labels ({} for none)."""
        return {}


def scores(oof):
    """Accuracy and macro F1 per head of an out-of-fold table (`<head>_acc`, `<head>_f1`; `acc`, `f1` for
    one label), and `f1` for the log: the 18 classes' for the face data, else the mean over heads."""
    out = {}
    for head in prob_columns(oof.columns):
        prefix = f"{head}_" if head is not None else ""
        label, pred = oof[f"{prefix}label"], oof[f"{prefix}prediction"]
        out[f"{prefix}acc"] = accuracy_score(label, pred)
        out[f"{prefix}f1"] = f1_score(label, pred, average="macro")
    if "f1" not in out:
        out["f1"] = out.get("class_f1", float(np.mean([v for k, v in out.items() if k.endswith("_f1")])))
    return out
