"""Checkpoints: plain data, written atomically, read with weights_only=True."""
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError
from .paths import atomic_path


def save_checkpoint(state, path):
    """Write `state` to `path` atomically: a crash mid-write leaves the previous file intact."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())


def copy_checkpoint(src, dst):
    """Atomic copy (cheaper than serialising the same state again)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


# torch.save's legacy (pre-1.6) format is a pickle stream that opens with this magic number (a LONG1 opcode);
# many published checkpoints use it. torch.load(weights_only=True) reads it as safely as the zip archive.
_LEGACY_MAGIC = b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def _is_torch_file(path):
    with open(path, "rb") as f:
        head = f.read(64)
    return zipfile.is_zipfile(path) or _LEGACY_MAGIC in head


def load_checkpoint(path, map_location="cpu"):
    """Load a checkpoint safely (torch.save's zip archive or its legacy format); a missing, corrupt or
    code-carrying file is a CheckpointError."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p.name for p in path.glob("*.pth"))
        raise CheckpointError(f"{path} is a folder, not a checkpoint file; give one of its files"
                              + (f": {', '.join(files)}" if files else " (it holds no .pth file)"))
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not _is_torch_file(path):  # garbage makes torch.load fail unpredictably
        raise CheckpointError(f"{path}: not a readable checkpoint (neither the zip archive torch.save writes nor "
                              "its legacy format: truncated, corrupt, or another kind of file)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" not in str(e) or "Unsupported operand" in str(e):  # not a refusal: unparseable
            raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {e}") from e
        raise CheckpointError(
            f"{path}: refused to load: it holds objects other than tensors and plain data, and loading "
            f"them could run code. Unpickle it yourself only if you trust its source. ({e})"
        ) from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt?): {e}") from e


def model_state(checkpoint, prefer="model"):
    """The model weights from our checkpoints or from a bare state dict."""
    if isinstance(checkpoint, dict) and prefer in checkpoint and isinstance(checkpoint[prefer], dict):
        return checkpoint[prefer]
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            return checkpoint[key]
    return checkpoint


def strip_prefixes(state, prefixes=("module.", "_orig_mod.")):
    """Remove DDP / torch.compile prefixes so weights load into a plain model."""
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for p in prefixes:
                if key.startswith(p):
                    key, changed = key[len(p):], True
        out[key] = value
    return out


def load_weights(model, state, strict=True, source="checkpoint", widen=False):
    """Load a state dict; on mismatch raise a CheckpointError listing the differing keys.

    `widen`: a convolution of the model that takes more input channels than the file's (an RGB
    model's weights into an RGB + texture-map model) takes the file's filters for the first
    channels and starts the others at zero, so the model computes what the file's did until the
    new channels are trained; these keys are reported as `widened`, not as mismatched."""
    state = strip_prefixes(state)
    # Weights of modules the model no longer holds because they never ran (model/segmentation.py's
    # NeverRuns), as files written before their removal still carry them.
    gone = tuple(f"{name}." for name, m in model.named_modules() if getattr(m, "never_runs", False))
    if gone:
        state = {k: v for k, v in state.items() if not k.startswith(gone)}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shape = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    widened = [k for k in shape if widen and _widens(own[k], state[k])]
    shape = [k for k in shape if k not in widened]
    if strict and (missing or unexpected or shape):
        raise CheckpointError(_mismatch(source, missing, unexpected, shape, own, state))
    usable = {k: v for k, v in state.items() if k in own and k not in shape}
    for k in widened:
        wide = torch.zeros_like(own[k])
        wide[:, :state[k].shape[1]] = state[k]
        usable[k] = wide
    model.load_state_dict(usable, strict=False)
    return {"missing": missing, "unexpected": unexpected, "shape_mismatch": shape, "widened": widened}


def _widens(own, theirs):
    """A convolution weight (out, in, *kernel) that differs from the file's only by more input channels."""
    return (own.dim() >= 3 and own.dim() == theirs.dim() and own.shape[1] > theirs.shape[1]
            and own.shape[:1] + own.shape[2:] == theirs.shape[:1] + theirs.shape[2:])


def _mismatch(source, missing, unexpected, shape, own, state):
    def few(keys):
        return ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "")

    lines = [f"{source} does not fit this model (was it trained with a different model config?)"]
    if missing:
        lines.append(f"  missing in checkpoint: {few(missing)}")
    if unexpected:
        lines.append(f"  not in model: {few(unexpected)}")
    if shape:
        lines.append("  shape differs: "
                     + few([f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in shape]))
    return "\n".join(lines)
