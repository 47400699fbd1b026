"""Config files: JSON or YAML, `_base_` inheritance, dotted command-line overrides.

A config is a plain dict. A file may name one or more `_base_` files (paths relative to
itself); it is deep-merged over them, so a variant states only what differs. Lists are
replaced whole. A dict holding `"_replace_": true` replaces the inherited dict instead
of merging into it.
"""
import copy
import json
import re
from pathlib import Path

import yaml

from .errors import ConfigError

BASE_KEY = "_base_"
REPLACE_KEY = "_replace_"


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `3e-4` as a float (YAML 1.1 insists on `3.0e-4`), reads only true/false
    as booleans (YAML 1.1 also turns on/off/yes/no into them, so `trainer.monitor=off` became False), and
    refuses a key given twice in one mapping (YAML would silently keep the last value)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"key '{key}' is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)
_BOOL = "tag:yaml.org,2002:bool"
_Loader.yaml_implicit_resolvers = {first: [r for r in resolvers if r[0] != _BOOL]
                                   for first, resolvers in _Loader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs):
    """json's object_pairs_hook: a dict, refusing a key given twice (json keeps the last silently)."""
    out = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def read_file(path):
    """One config file as a dict, without resolving `_base_`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text()
    try:
        data = json.loads(text, object_pairs_hook=_unique_pairs) if path.suffix == ".json" else \
            yaml.load(text, Loader=_Loader)
    except _DuplicateKey as e:
        raise ConfigError(f"{path}: key '{e}' is given twice in one object; JSON would keep only the last "
                          "value, so say it once") from e
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping at the top level, got {type(data).__name__}")
    return data


def load_config(path, _seen=()):
    """Read `path` and resolve its `_base_` chain into one dict."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{path}: `_base_` cycle: {' -> '.join(str(p) for p in (*_seen, path))}")
    data = read_file(path)
    bases = data.pop(BASE_KEY, [])
    bases = [bases] if isinstance(bases, str) else bases
    merged = {}
    for base in bases:
        merged = merge(merged, load_config(path.parent / base, (*_seen, path)))
    return merge(merged, data)


def merge(base, delta):
    """Deep-merge `delta` over `base` (neither is modified)."""
    out = copy.deepcopy(base)
    for key, value in delta.items():
        if isinstance(value, dict):
            value = dict(value)
            replace = value.pop(REPLACE_KEY, False)
            if not replace and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
                continue
            value = merge({}, value)  # strip nested markers
        out[key] = copy.deepcopy(value)
    return out


def parse_value(text, key="value"):
    """A command-line value, read as YAML: `5` -> 5, `3e-4` -> 0.0003, `[1, 2]` -> list, `null` -> None.
    Text that is not valid YAML (e.g. `[32,16` without its bracket) is an error, never a string."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"override {key}={text}: the value is not valid YAML ({problem}); fix it, or quote it "
                          f"to pass a string: {key}='\"{text}\"'") from e


def _key(node, part, path):
    if isinstance(node, list):
        if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
            raise ConfigError(f"override {path}: '{part}' is not an index of a list of {len(node)}")
        return int(part)
    return part


def get_path(cfg, dotted, default=None):
    """`get_path(cfg, "optimizer.args.lr")`; `default` when any part is missing."""
    node = cfg
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


def set_path(cfg, dotted, value):
    """Set a dotted path in place, creating dicts on the way; list items by index."""
    parts = dotted.split(".")
    node = cfg
    for i, part in enumerate(parts[:-1]):
        key = _key(node, part, dotted)
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        if not isinstance(node[key], (dict, list)):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"override {dotted}: {where} is {node[key]!r}, not a mapping")
        node = node[key]
    node[_key(node, parts[-1], dotted)] = value


def apply_overrides(cfg, overrides):
    """Apply `key.path=value` strings (values parsed as YAML) to a copy of cfg."""
    cfg = copy.deepcopy(cfg)
    for item in overrides or ():
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key.path=value (e.g. optimizer.args.lr=3e-4)")
        key, value = item.split("=", 1)
        if not key.strip():
            raise ConfigError(f"override '{item}' has an empty key")
        set_path(cfg, key.strip(), parse_value(value, key.strip()))
    return cfg


def dump(cfg, fmt="json"):
    """The config as JSON or YAML text."""
    if fmt == "yaml":
        return yaml.safe_dump(cfg, sort_keys=False)
    return json.dumps(cfg, indent=2)


def save_config(cfg, path):
    """Write the resolved config as plain JSON (or YAML, by extension)."""
    path = Path(path)
    path.write_text(dump(cfg, "yaml" if path.suffix in (".yaml", ".yml") else "json"))
