"""Face-mask predictions as the competition wants them, plus probabilities for ensembling.

    "test": {"writers": [{"type": "MaskSubmissionWriter"}]}

On the eval split (no labels): `submission.csv` is info.csv with `ans` filled (same rows,
same order, no index column), and `probabilities.csv` holds per image the 18 class
probabilities (class_0..class_17) and each head's (mask_0.., gender_0.., age_0..).
On a labelled split: `predictions.csv` (ImageID, ans, target) and `probabilities.csv` with
the true labels too (true_class, true_mask, ...), e.g. out-of-fold predictions.
`output` says what a one-tensor model predicts: "auto" (18 classes), or a head ("age"): a
one-head model writes its head's probabilities only (ensemble them with tools/ensemble.py).
"""
import logging
from pathlib import Path
from typing import Literal

import pandas as pd

from data_loader.mask_labels import HEADS
from model.face_decode import probabilities, target_classes
from utils.registry import WRITERS

log = logging.getLogger("facetrain")
GROUPS = ("class", *HEADS)


@WRITERS.register
class MaskSubmissionWriter:
    def __init__(self, out_dir, output: Literal["auto", "class", "mask", "gender", "age"] = "auto",
                 submission: str = "submission.csv", probabilities: str = "probabilities.csv",
                 predictions: str = "predictions.csv"):
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.output = output
        self.names = {"submission": submission, "probabilities": probabilities, "predictions": predictions}
        self.records, self.labelled, self.source = [], False, None

    def write(self, batch, outputs):
        probs = {k: v.cpu().numpy() for k, v in probabilities(outputs, self.output).items()}
        meta = batch["meta"]
        truth = self._truth(batch.get("target"), probs)
        self.labelled = truth is not None
        self.source = meta["source"][0]
        for i, image_id in enumerate(meta["image_id"]):
            record = {"ImageID": image_id, "_row": int(meta["row"][i]), "_index": int(meta["index"][i])}
            for group, p in probs.items():
                record.update({f"{group}_{c}": float(v) for c, v in enumerate(p[i])})
            if truth is not None:
                record.update({f"true_{k}": int(v[i]) for k, v in truth.items()})
            self.records.append(record)

    def _truth(self, target, probs):
        if target is None:
            return None
        if isinstance(target, dict):
            out = {"class": target_classes(target)}
            out.update({h: target_classes(target[h]) for h in HEADS})
        else:
            kind = "class" if "class" in probs else next(iter(probs))
            out = {kind: target_classes(target)}
        return {k: v.cpu().numpy() for k, v in out.items()}

    def close(self):
        if not self.records:
            return {"written": 0}
        df = pd.DataFrame(self.records).sort_values("_index", kind="stable")
        result = {"written": len(df)}
        probs_path = self.out / self.names["probabilities"]
        df.drop(columns=["_row", "_index"]).to_csv(probs_path, index=False, float_format="%.6g")
        result["probabilities"] = str(probs_path)
        group = "class" if "class_0" in df.columns else next(g for g in GROUPS if f"{g}_0" in df.columns)
        pred = df[[c for c in df.columns if c.startswith(f"{group}_")]].to_numpy().argmax(1)
        if self.labelled:
            path = self.out / self.names["predictions"]
            table = pd.DataFrame({"ImageID": df["ImageID"], "ans": pred, "target": df[f"true_{group}"]})
            table.to_csv(path, index=False)
            result["predictions"] = str(path)
        elif group == "class":
            result.update(self._submission(df["_row"].to_numpy(), pred))
        else:
            log.info(f"MaskSubmissionWriter: a one-head ({group}) model makes no 18-class submission; its "
                     f"probabilities are in {probs_path} for tools/ensemble.py")
        log.info(f"wrote {', '.join(str(v) for k, v in result.items() if k != 'written')}")
        return result

    def _submission(self, rows, pred):
        info = pd.read_csv(self.source, dtype=str, keep_default_na=False)
        filled = pd.Series(False, index=info.index)
        ans = info["ans"].copy() if "ans" in info.columns else pd.Series("", index=info.index)
        ans.iloc[rows] = [str(int(p)) for p in pred]
        filled.iloc[rows] = True
        info["ans"] = ans
        path = self.out / self.names["submission"]
        info.to_csv(path, index=False)
        missing = int((~filled).sum())
        if missing:
            log.warning(f"{missing} row(s) of {self.source} have no prediction (their images were skipped) and keep "
                        f"their ans from info.csv, e.g. {info.loc[~filled, 'ImageID'].head(5).tolist()}")
        return {"submission": str(path), "missing": missing}
