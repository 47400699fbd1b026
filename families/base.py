"""The questions the application asks a task family; families/__init__.py says who answers them."""
import pandas as pd

from utils.errors import ConfigError, DataError


class Family:
    """Defaults are those of a classifier of images; a family overrides what differs.

    A `predictor` argument is the deploy.predictor.Predictor being served: its model, device, validation
    transform (`transform`), inferer, dataset arguments (`dataset_arg(name)`), labels and class names."""

    name = "family"
    takes = "image"  # what one prediction takes: "image" (an RGB uint8 array) or "video" (a video file)
    gives = "classes"  # what it gives: "classes" ({output: {class: probability}}) or "mask" (a probability map)
    activation = "softmax"  # turns an exported file's outputs into probabilities
    writer = {"type": "ClassPredictionWriter"}  # what tools/kfold.py adds to collect a fold's predictions
    predictions = "predictions.csv"  # ... which it writes to this name in the fold's output folder
    oof_file = "oof_predictions.csv"  # where `collect` gathers the folds' out-of-fold predictions

    def __str__(self):
        return self.name

    # --- a checkpoint as a predictor -------------------------------------------------------
    def outputs(self, predictor, class_names=None):
        """(output names, {output name: class names}) of the model."""
        raise NotImplementedError

    def layout(self, predictor):
        """The input's axes: "NCHW" for images."""
        return "NCHW"

    def input_shape(self, predictor, height, width):
        """One input's shape (no batch axis) at this image size."""
        return (3, height, width)

    def predict(self, predictor, x):
        """The prediction for one input (see `takes` and `gives`)."""
        raise NotImplementedError

    def threshold(self, predictor, threshold):
        """The decision threshold the predictor uses (`threshold`: the one its checkpoint stores), or None."""
        return None

    def metadata(self, predictor):
        """What an exported file carries besides the common keys (deploy/predictor.py)."""
        return {}

    # --- k-fold (tools/kfold.py) -----------------------------------------------------------
    def collect(self, cfg, folds, out_dir):
        """Gather the folds' out-of-fold predictions, {k: (fold config, its oof folder)}, into `out_dir`;
        returns what goes into summary.json (the files written, out-of-fold scores)."""
        raise ConfigError(f"the {self.name} family does not say how its out-of-fold predictions are gathered")

    def ensemble(self, files, out_dir):
        """The fold models' test predictions (`files`, one per fold) combined into `out_dir`, or None when
        the family makes no ensemble."""
        return None

    # --- label errors (tools/find_label_errors.py) -----------------------------------------
    def find_label_errors(self, oof, cfg, out, review, method):
        """Rank the labels of `oof` (a k-fold output's OOF file) and write the review files into `out`;
        returns {what: path} of the files written."""
        raise ConfigError(f"the {self.name} family has no label-error analysis")


def oof_families():
    """{k-fold output file name: the Family that analyses it} of the registered families that find label
    errors; of those sharing a name, the most general (image, not the face and action families built on it)."""
    from utils.registry import FAMILIES

    analysers = {c for c in map(FAMILIES.get, FAMILIES.names()) if c.find_label_errors is not Family.find_label_errors}
    ordered = sorted(analysers, key=lambda c: (-len(c.__mro__), c.name))  # the most general last: the one kept
    return {c.oof_file: c() for c in ordered}


def concat_folds(files, what):
    """The folds' prediction tables, {k: path}, as one table with a `fold` column; a sample held out by two
    folds is a DataError."""
    oof = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False).assign(fold=k) for k, p in files.items()],
                    ignore_index=True)
    key = oof.columns[0]
    if oof[key].duplicated().any():
        raise DataError(f"{what} {oof[key][oof[key].duplicated()].iloc[0]} is in two folds' held-out sets; the "
                        "folds overlap")
    return oof
