"""Per-clip class predictions from test.py: a CSV table and a JSON of clip -> class.

    "test": {"writers": [{"type": "ClipPredictionWriter",
                          "args": {"class_names": ["fall", "walk_left", "walk_right", "stand", "appear"]}}]}

`predictions.csv`: clip, path, label (true class name, when the split is labelled),
prediction, confidence and prob_<class> for every class (the probabilities the model, or the
MultiView inferer, gives the video). `predictions.json`: {clip: predicted class name} (or the
class index with json_values "index"), the submission format of the seed project.
"""
import json
from pathlib import Path
from typing import Literal, Optional

import torch

from utils.registry import WRITERS, takes_classes

from .class_predictions import class_columns, write_rows


@WRITERS.register
@takes_classes(class_names="names")
class ClipPredictionWriter:
    def __init__(self, out_dir, class_names: Optional[list] = None, csv_name: str = "predictions.csv",
                 json_name: Optional[str] = "predictions.json", json_values: Literal["name", "index"] = "name",
                 key: Optional[str] = None):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.class_names = list(class_names) if class_names else None
        self.csv_path = self.out / csv_name
        self.json_path = self.out / json_name if json_name else None
        self.json_values, self.key = json_values, key
        self.rows, self.mapping = [], {}

    def _name(self, index):
        return self.class_names[index] if self.class_names else str(index)

    def write(self, batch, outputs):
        if isinstance(outputs, dict):
            if self.key is None:
                raise KeyError(f"the model returns a dict {sorted(outputs)}: give ClipPredictionWriter a 'key'")
            outputs = outputs[self.key]
        probs = torch.softmax(outputs.float(), dim=-1).cpu()
        meta = batch["meta"]
        targets = batch.get("target")
        for i, p in enumerate(probs):
            try:
                row = {"clip": meta["name"][i], "path": meta["path"][i],
                       **class_columns(p, self.class_names, None if targets is None else targets[i])}
            except ValueError as e:
                raise ValueError(f"ClipPredictionWriter: {e}") from e
            self.rows.append(row)
            pred = int(p.argmax())
            self.mapping[row["clip"]] = self._name(pred) if self.json_values == "name" else pred

    def close(self):
        write_rows(self.csv_path, self.rows, ["clip", "path", "prediction", "confidence"])
        out = {"written": len(self.rows), "csv": str(self.csv_path)}
        if self.json_path is not None:
            self.json_path.write_text(json.dumps(self.mapping, indent=2))
            out["json"] = str(self.json_path)
        return out
