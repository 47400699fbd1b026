"""Build objects from `{"type": Name, "args": {...}}` config blocks.

Arguments are checked against the constructor's signature before it runs, so a typo or a
wrong type fails at once with the config path, not deep inside a library.
"""
import contextvars
import inspect
import typing

from .errors import ConfigError

_BLOCK_KEYS = {"type", "args"}
_SCOPE = contextvars.ContextVar("config_scope", default="")


def check_block(cfg, path, extra_keys=()):
    """Normalise a component block: a bare string means {"type": string}."""
    if isinstance(cfg, str):
        return {"type": cfg, "args": {}}
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: expected {{\"type\": ..., \"args\": {{...}}}}, got {cfg!r}")
    if "type" not in cfg:
        raise ConfigError(f"{path}: missing 'type'")
    unknown = set(cfg) - _BLOCK_KEYS - set(extra_keys)
    if unknown:
        allowed = sorted(_BLOCK_KEYS | set(extra_keys))
        raise ConfigError(f"{path}: unknown key(s) {sorted(unknown)}; a block accepts {allowed}")
    args = cfg.get("args") or {}
    if not isinstance(args, dict):
        raise ConfigError(f"{path}.args: expected a mapping of argument names to values, got {args!r}")
    return {**cfg, "args": args}


def build(registry, cfg, path, extra_keys=(), **kwargs):
    """Instantiate `registry[cfg.type](**cfg.args, **kwargs)`.

    `kwargs` are what code supplies (e.g. an optimizer's params). They may not collide with
    config args: code never silently overrides what the user wrote.
    """
    cfg = check_block(cfg, path, extra_keys)
    obj = registry.get(cfg["type"], f"{path}.type")
    args = cfg["args"]
    clash = set(args) & set(kwargs)
    if clash:
        raise ConfigError(f"{path}.args: {sorted(clash)} are set by the framework for {cfg['type']}; remove them")
    check_args(obj, args, f"{path}.args", supplied=kwargs)
    token = _SCOPE.set(f"{path}.args")
    try:
        return obj(**args, **kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError, KeyError, AssertionError) as e:
        raise ConfigError(f"{path}: building {cfg['type']} failed: {type(e).__name__}: {e}") from e
    finally:
        _SCOPE.reset(token)


def build_child(registry, cfg, subpath, extra_keys=(), **kwargs):
    """Build a component nested in another's args; errors name the full config path."""
    scope = _SCOPE.get()
    return build(registry, cfg, f"{scope}.{subpath}" if scope else subpath, extra_keys, **kwargs)


def _signature(obj):
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None


def with_base_arguments(base, exclude=()):
    """Class decorator for a subclass whose `__init__` takes its own arguments and passes `**kwargs` on to
    `base`: it declares `base`'s arguments as its own too (all but `exclude`), so a config is checked
    against every argument the class takes, with the base's types, before anything is built."""
    def declare(cls):
        own = [p for n, p in inspect.signature(cls.__init__).parameters.items()
               if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        taken = {p.name for p in own} | set(exclude) | {"self"}
        inherited = [p.replace(kind=p.KEYWORD_ONLY) for n, p in inspect.signature(base.__init__).parameters.items()
                     if n not in taken and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        cls.__signature__ = inspect.Signature(own + inherited)
        return cls
    return declare


def _hints(obj):
    declared = getattr(obj, "__signature__", None)  # set by with_base_arguments
    if isinstance(declared, inspect.Signature):
        return {n: p.annotation for n, p in declared.parameters.items() if p.annotation is not p.empty}
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return typing.get_type_hints(target)
    except Exception:
        return {}


def check_args(obj, args, path, supplied=()):
    """Names and types of `args` against `obj`'s signature; ConfigError naming the key."""
    sig = _signature(obj)
    if sig is None:
        return
    params = {n: p for n, p in sig.parameters.items() if n != "self"}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    named = {n: p for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    name = getattr(obj, "__name__", str(obj))
    if not takes_any:
        for key in args:
            if key not in named:
                raise ConfigError(f"{path}.{key}: unknown argument for {name}; accepted: {sorted(named)}")
    missing = [n for n, p in named.items() if p.default is p.empty and n not in args and n not in supplied]
    if missing:
        raise ConfigError(f"{path}: {name} needs {missing}; accepted: {sorted(named)}")
    hints = _hints(obj)
    for key, value in args.items():
        if key in named:
            expected = hints.get(key, _type_of_default(named[key].default))
            problem = type_problem(value, expected)
            if problem:
                raise ConfigError(f"{path}.{key}: {problem}, got {value!r} ({type(value).__name__})")


def _type_of_default(default):
    if default is inspect.Parameter.empty or default is None:
        return typing.Any
    if isinstance(default, bool):
        return bool
    if isinstance(default, (int, float)):
        return float  # an int default usually accepts floats too (e.g. weight_decay=0)
    if isinstance(default, str):
        return typing.Any  # string defaults often also take numbers or lists
    return typing.Any


def type_problem(value, expected):
    """A short description of why `value` does not fit `expected`, or None when it fits."""
    if expected is typing.Any or expected is inspect.Parameter.empty:
        return None
    origin = typing.get_origin(expected)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        options = typing.get_args(expected)
        if any(type_problem(value, o) is None for o in options):
            return None
        return f"expected {_describe(expected)}"
    if origin is typing.Literal:
        choices = typing.get_args(expected)
        return None if value in choices else f"expected one of {list(choices)}"
    if expected is type(None):
        return None if value is None else "expected null"
    base = origin or expected
    if base is bool:
        return None if isinstance(value, bool) else "expected true or false"
    if base is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "expected an integer"
    if base is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "expected a number"
    if base is str:
        return None if isinstance(value, str) else "expected a string"
    if base in (list, tuple, typing.Sequence) or getattr(base, "__name__", "") == "Sequence":
        return None if isinstance(value, (list, tuple)) else "expected a list"
    if base is dict or getattr(base, "__name__", "") == "Mapping":
        return None if isinstance(value, dict) else "expected a mapping"
    if getattr(base, "__module__", "") == "torch" and getattr(base, "__name__", "") == "Tensor":
        # torch annotates numbers as `float | Tensor`; from a config a tensor is a number or a list
        ok = isinstance(value, (int, float, list)) and not isinstance(value, bool)
        return None if ok else "expected a number"
    return None  # other annotations (tensors, callables, classes): leave to the constructor


def _describe(expected):
    names = []
    for option in typing.get_args(expected):
        if option is type(None):
            names.append("null")
        elif typing.get_origin(option) is typing.Literal:
            names.append(" / ".join(repr(c) for c in typing.get_args(option)))
        else:
            names.append(getattr(option, "__name__", str(option)))
    return " or ".join(names)
