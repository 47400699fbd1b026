"""Per-clip class predictions from test.py: predictions.csv in the one format of ClassPredictionWriter,
with the clip's name first, and a JSON of clip -> class.

    "test": {"writers": [{"type": "ClipPredictionWriter"}]}

`predictions.json`: {clip: predicted class name} (or the class index with json_values "index"), the
submission format of the seed project; `json_name: null` leaves it out. `key` picks the output of a
model that returns several.
"""
import json
from typing import Literal, Optional

from utils.registry import WRITERS, takes_classes

from .class_predictions import ClassPredictionWriter


@WRITERS.register
@takes_classes(class_names="names")
class ClipPredictionWriter(ClassPredictionWriter):
    def __init__(self, out_dir, class_names: Optional[list] = None, csv_name: str = "predictions.csv",
                 json_name: Optional[str] = "predictions.json", json_values: Literal["name", "index"] = "name",
                 key: Optional[str] = None):
        super().__init__(out_dir, list(class_names) if class_names else None, csv_name)
        self.json_path = self.out / json_name if json_name else None
        self.json_values, self.key = json_values, key

    def probabilities(self, outputs):
        if isinstance(outputs, dict):
            if self.key is None:
                raise KeyError(f"the model returns a dict {sorted(outputs)}: give ClipPredictionWriter a 'key'")
            outputs = outputs[self.key]
        return super().probabilities(outputs)

    def ids(self, meta, i):
        return {"clip": meta["name"][i], "path": meta["path"][i]}

    def close(self):
        out = super().close()
        if self.json_path is not None:
            names = self.class_names or []
            mapping = {r["clip"]: r["prediction"] if self.json_values == "name" else
                       (names.index(r["prediction"]) if names else int(r["prediction"])) for r in self.rows}
            self.json_path.write_text(json.dumps(mapping, indent=2))
            out["json"] = str(self.json_path)
        return out
