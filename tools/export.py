"""Export a trained checkpoint to ONNX or TorchScript, with its class names and preprocessing inside.

    python tools/export.py --checkpoint saved/models/mask_multihead_quick/<run_id>/model_best.pth --format onnx
    python tools/export.py --checkpoint .../model_best.pth --format torchscript --out deploy/mask.pt

The batch size is free (and height/width too where validation took whole images of any size,
e.g. wrinkle models). Multi-head models have one named output per head (mask, gender, age);
others one output, "logits". Outputs are logits: softmax over the last axis (sigmoid for wrinkle
maps) gives probabilities. The metadata (ONNX metadata_props, or the TorchScript extra file
metadata.json) holds class_names, mean, std, input_size, layout, ... (docs/deployment.md).
After writing, the file is run at another batch size and compared with PyTorch.
"""
import argparse
import json
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from utils.errors import USER_ERRORS, ConfigError
from utils.paths import atomic_path

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
TORCHSCRIPT_METADATA = "metadata.json"
TOLERANCE = 1e-4  # float32 kernels of another runtime differ in rounding only
MIN_OPSET = 18  # torch.onnx's exporter (dynamo=True) writes opset 18 and converts only upward reliably


def export_onnx(predictor, out, opset=None):
    """torch.export-based exporter (dynamo=True, the default since PyTorch 2.9; needs onnxscript):
    the TorchScript-based one is deprecated. Dynamic axes are declared as torch.export Dims."""
    try:
        import onnxruntime  # noqa: F401  (the check after export runs the file)
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"ONNX export needs onnx, onnxscript and onnxruntime ({e.name} is missing): "
                          "pip install -r requirements-deploy.txt") from e
    module, x = predictor.export_module(), predictor.example_input(batch=2)
    dims = {axis: torch.export.Dim.DYNAMIC for axis in predictor.dynamic_axes()}
    with torch.no_grad():
        program = torch.onnx.export(module, (x,), dynamo=True, input_names=["input"],
                                    output_names=predictor.output_names, dynamic_shapes=(dims,),
                                    opset_version=opset, verbose=False)
    program.model.metadata_props.update(predictor.metadata())
    written = program.model.opset_imports.get("")
    if opset is not None and written != opset:
        raise ConfigError(f"--opset {opset}: the exporter produced opset {written} instead; nothing was written. "
                          f"Use an opset from {MIN_OPSET} to {_max_opset()}, or leave --opset out")
    with atomic_path(out) as tmp:  # a failed export never leaves a half-written or mislabelled file behind
        program.save(str(tmp))
    return out


def _max_opset():
    import onnx

    return onnx.defs.onnx_opset_version()


def export_torchscript(predictor, out):
    """torch.jit.trace (timm and smp models do not all script); the metadata goes in as an extra file."""
    module, x = predictor.export_module(), predictor.example_input(batch=2)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)  # TorchScript is deprecated; asked for by name
        traced = torch.jit.trace(module, (x,))
        torch.jit.save(traced, str(out), _extra_files={TORCHSCRIPT_METADATA: json.dumps(predictor.metadata())})
    return out


def run_exported(path, fmt, x):
    """The exported file's outputs (a list of arrays, in output_names order) for input x."""
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {"input": x.cpu().numpy()})
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        out = torch.jit.load(str(path), map_location="cpu")(x.cpu())
    return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]


def check(predictor, path, fmt):
    """Largest difference from PyTorch at a batch size other than the traced one."""
    x = predictor.example_input(batch=3)
    reference = predictor.raw_outputs(x)
    got = run_exported(path, fmt, x)
    return max(float(np.abs(g - reference[n].float().cpu().numpy()).max()) for n, g in zip(predictor.output_names, got))


def main(argv=None):
    p = argparse.ArgumentParser(description="Export a checkpoint to ONNX or TorchScript.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", "-r", "--resume", dest="checkpoint", required=True,
                   help="checkpoint to export (model_best.pth); --resume is an alias")
    p.add_argument("--format", choices=list(FORMATS), default="onnx")
    p.add_argument("--out", help="output file (default: next to the checkpoint, <name>.onnx / <name>.pt)")
    p.add_argument("--weights", choices=["auto", "model", "ema", "swa"], default="auto",
                   help="which weights: auto = those the file stands for (EMA when the run monitored val_ema/*)")
    p.add_argument("--opset", type=int, help=f"ONNX opset, {MIN_OPSET} or newer (default: the exporter's)")
    p.add_argument("--class-names", nargs="+", help="an action model's class names, when its data root is gone")
    p.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"),
                   help="export for this image size only (required for a partitioned wrinkle model)")
    p.add_argument("--no-check", action="store_true", help="skip running the exported file against PyTorch")
    args = p.parse_args(argv)

    from deploy.predictor import Predictor
    from logger import setup_logging

    setup_logging()
    if args.opset is not None and args.format == "onnx" and not MIN_OPSET <= args.opset <= _max_opset():
        p.error(f"--opset {args.opset}: this exporter writes opsets {MIN_OPSET} to {_max_opset()}")
    try:
        predictor = Predictor.from_checkpoint(args.checkpoint, weights=args.weights, device="cpu",
                                              class_names=args.class_names)
        if args.input_size:
            predictor.fix_input_size(*args.input_size)
        out = Path(args.out or Path(args.checkpoint).with_suffix(FORMATS[args.format]))
        out.parent.mkdir(parents=True, exist_ok=True)
        if args.format == "onnx":
            export_onnx(predictor, out, args.opset)
        else:
            export_torchscript(predictor, out)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({args.format}: input 'input' {predictor.layout}, outputs {predictor.output_names})")
    if not args.no_check:
        try:
            diff = check(predictor, out, args.format)
        except Exception as e:  # e.g. an opset this onnxruntime does not implement
            runtime = "onnxruntime" if args.format == "onnx" else "torch.jit"
            print(f"error: {out} was written but does not run in {runtime}"
                  f": {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
            return 1
        print(f"checked at batch 3: max |{args.format} - pytorch| = {diff:.2e}")
        if diff > TOLERANCE:
            print(f"error: the exported model differs from PyTorch by {diff:.2e} (> {TOLERANCE})", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
