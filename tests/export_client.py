"""A user of an exported ONNX file who has nothing but the file: preprocessing, padding, views and
frame sampling are done from its metadata with numpy, OpenCV and onnxruntime alone (no code of this
repo), as docs/deployment.md describes. The consistency tests compare what it computes with test.py
and the predictor."""
import json
import math

import cv2
import numpy as np
import onnx
import onnxruntime as ort


def _value(text):
    """Metadata values are strings: JSON for lists, dicts and numbers, plain text otherwise."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _bilinear(x, h, w):
    """(C, h0, w0) -> (C, h, w), bilinear with pixel centres aligned (align_corners=False)."""
    def axis(n_out, n_in):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(pos).astype(int)
        return low, np.minimum(low + 1, n_in - 1), (pos - low).astype(np.float32)
    (y0, y1, fy), (x0, x1, fx) = axis(h, x.shape[1]), axis(w, x.shape[2])
    rows = x[:, y0] * (1 - fy)[None, :, None] + x[:, y1] * fy[None, :, None]
    return rows[:, :, x0] * (1 - fx) + rows[:, :, x1] * fx


class ExportClient:
    def __init__(self, path):
        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        raw = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        self.meta = {k: _value(v) for k, v in raw.items()}
        self.names = self.meta["output_names"]

    # --- one image, as the validation transform in the metadata prepares it --------------------
    def prepare(self, rgb):
        """(C, H, W) float32 from an RGB uint8 image."""
        x = rgb
        for step in self.meta["transform"]:
            kind, args = step["type"], step.get("args") or {}
            if kind == "Resize":
                x = cv2.resize(x, (args["width"], args["height"]),
                               interpolation=args.get("interpolation", cv2.INTER_LINEAR))
            elif kind == "CenterCrop":
                h, w = x.shape[:2]
                y0, x0 = (h - args["height"]) // 2, (w - args["width"]) // 2
                x = x[y0:y0 + args["height"], x0:x0 + args["width"]]
            elif kind == "Normalize":  # mean/std/max_pixel_value as the metadata states them
                x = (x.astype(np.float32) / self.meta["max_pixel_value"] - np.float32(self.meta["mean"])) \
                    / np.float32(self.meta["std"])
            elif kind == "ToTensorV2":
                x = np.ascontiguousarray(x.transpose(2, 0, 1))
            else:
                raise NotImplementedError(f"this client knows no {kind}")
        return x.astype(np.float32)

    def _views(self):
        """(view names, weights) of the metadata's inference block (TTA), else identity alone."""
        inference = self.meta["inference"]
        if inference["type"] != "TTA":
            return ["identity"], [1.0]
        views = inference["args"].get("views", ["identity", "hflip"])
        weights = inference["args"].get("weights") or [1.0] * len(views)
        return views, [w / sum(weights) for w in weights]

    @staticmethod
    def _flip(x, view):
        """A view of a (C, H, W) input: flips, or zoom<f> (the central 1/f, resized back, bilinear)."""
        if view.startswith("zoom"):
            h, w = x.shape[-2:]
            f = float(view[4:])
            ch, cw = max(1, round(h / f)), max(1, round(w / f))
            y0, x0 = (h - ch) // 2, (w - cw) // 2
            return _bilinear(x[:, y0:y0 + ch, x0:x0 + cw], h, w)
        return {"identity": x, "hflip": x[..., ::-1], "vflip": x[..., ::-1, :]}[view]

    def _run(self, batch):
        return dict(zip(self.names, self.session.run(None, {"input": np.ascontiguousarray(batch, np.float32)})))

    # --- wrinkle maps ---------------------------------------------------------------------------
    def _pad(self, x):
        """The metadata's padding rule: bottom/right, reflect (edge when the pad reaches the image size)."""
        m = self.meta["pad_to_multiple"]
        h, w = x.shape[-2:]
        ph, pw = math.ceil(h / m) * m - h, math.ceil(w / m) * m - w
        mode = "reflect" if ph < h and pw < w else "edge"
        return np.pad(x, ((0, 0), (0, ph), (0, pw)), mode=mode)

    def wrinkle_probability(self, rgb):
        x = self.prepare(rgb)
        h, w = x.shape[-2:]
        views, weights = self._views()
        total = 0
        for view, weight in zip(views, weights):
            logits = self._run(self._pad(self._flip(x, view))[None])[self.names[0]][0, 0, :h, :w]
            total = total + weight * self._flip(_sigmoid(logits), view)
        return total

    # --- class probabilities ----------------------------------------------------------------------
    def class_probabilities(self, rgb):
        x = self.prepare(rgb)
        views, weights = self._views()
        total = {}
        for view, weight in zip(views, weights):
            for name, logits in self._run(self._flip(x, view)[None]).items():
                total[name] = total.get(name, 0) + weight * _softmax(logits[0])
        return total

    # --- videos -----------------------------------------------------------------------------------
    def frame_indices(self, n):
        """(clips, clip_len) as the metadata's sampling rule states (mmaction2's SampleFrames, test mode)."""
        s = self.meta["sampling"]
        length, step, clips = s["clip_len"], s["frame_interval"], s["num_clips"]
        if length == 1:
            seg = n / clips
            starts = (np.arange(clips) * seg + seg / 2).astype(np.int64)
        else:
            free = max(n - ((length - 1) * step + 1), 0)
            starts = np.array([free // 2]) if clips == 1 else np.round(np.arange(clips) * free / (clips - 1))
        inds = starts.astype(np.int64)[:, None] + np.arange(length)[None] * step
        if s["out_of_bound"] == "loop":
            return inds % n
        return np.minimum(inds, n - 1)

    def video_probabilities(self, frames):
        """Class probabilities of a video given all its frames (T, H, W, 3) RGB uint8."""
        assert self.meta["sampling"]["crops"] == 1 and self.meta["sampling"]["crop_size"] is None
        inds = self.frame_indices(len(frames))
        prepared = np.stack([self.prepare(frames[i]) for i in inds.ravel()])  # (clips * len, C, h, w)
        if self.meta["layout"] == "NCTHW":  # one view per clip: (clips, C, T, h, w)
            views = prepared.reshape(*inds.shape, *prepared.shape[1:]).transpose(0, 2, 1, 3, 4)
        else:  # NTCHW: every sampled frame in one view
            views = prepared[None]
        logits = self._run(views)[self.names[0]]
        return _softmax(logits, -1).mean(0)
