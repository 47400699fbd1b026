"""Hyperparameter search with Optuna: a space over dotted config keys, each trial a normal run.

A space file maps config keys to ranges (YAML or JSON):

    optimizer.args.lr: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}
    loss.args.heads.age.weight: {type: float, low: 0.2, high: 0.8}
    trainer.epochs: {type: int, low: 4, high: 12, step: 4}
    model.args.backbone: {type: categorical, choices: [resnet10t, resnet18]}

`type` may be left out: `choices` means categorical, integer bounds int, others float. Each
trial trains as `cfg` with its values set, in `<save_dir>/tune/<study>/` (run id trialNNNN),
and reports the monitored metric after every validation to the pruner; its value is the run's
best monitored score. The study lives in storage on disk, so it resumes and can be shared; it
remembers the monitored metric and direction it was made with, and refuses a resume that changes
them. A seeded sampler is saved (pickled, as Optuna's docs resume one) in the study folder each time
it draws, so a resumed study draws what an uninterrupted one would, never its first values again.
"""
import copy
import difflib
import logging
import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import optuna

from utils.config import get_path, set_path
from utils.errors import ConfigError, NonFiniteLossError

log = logging.getLogger("facetrain")
SPEC_KEYS = {"float": {"type", "low", "high", "log", "step"}, "int": {"type", "low", "high", "log", "step"},
             "categorical": {"type", "choices"}}
FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
_MISSING = object()


def dotted_keys(node, prefix=""):
    """Every dotted key of a config (list items by index), for 'did you mean' hints."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        key = f"{prefix}{k}"
        yield key
        yield from dotted_keys(v, key + ".")


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_space(space, cfg, source="space"):
    """The space as {key: spec with a type}; a ConfigError naming the key for anything wrong."""
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{source}: expected a mapping of config keys to ranges, e.g. "
                          "'optimizer.args.lr: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}'")
    out = {}
    for key, spec in space.items():
        where = f"{source}: {key}"
        if get_path(cfg, str(key), _MISSING) is _MISSING:
            close = difflib.get_close_matches(str(key), list(dotted_keys(cfg)), n=1)
            raise ConfigError(f"{where}: not a key of the config" + (f"; did you mean '{close[0]}'?" if close else
                              "") + ". Tune keys the config has (add it to the config first)")
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: expected a range such as {{low: 0.1, high: 0.9}} or {{choices: [a, b]}}, "
                              f"got {spec!r}")
        kind = spec.get("type") or ("categorical" if "choices" in spec else
                                    "int" if all(isinstance(spec.get(b), int) for b in ("low", "high")) else "float")
        if kind not in SPEC_KEYS:
            raise ConfigError(f"{where}: type {kind!r} is not one of {list(SPEC_KEYS)}")
        unknown = set(spec) - SPEC_KEYS[kind]
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)} for a {kind} range; "
                              f"fields: {sorted(SPEC_KEYS[kind])}")
        out[key] = {**spec, "type": kind}
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{where}: choices must be a non-empty list, got {choices!r}")
            if not all(c is None or isinstance(c, (bool, int, float, str)) for c in choices):
                raise ConfigError(f"{where}: choices must be numbers, strings, true/false or null (Optuna stores "
                                  f"no lists or mappings), got {choices!r}")
            continue
        low, high, step = spec.get("low"), spec.get("high"), spec.get("step")
        if not (_number(low) and _number(high)) or (kind == "int" and not all(isinstance(v, int) for v in (low, high))):
            raise ConfigError(f"{where}: low and high must be {'integers' if kind == 'int' else 'numbers'}, "
                              f"got low={low!r}, high={high!r}")
        if not low < high:
            raise ConfigError(f"{where}: bad range: low ({low}) must be below high ({high})")
        if not isinstance(spec.get("log", False), bool):  # `log: no` is the word, which would read as true
            raise ConfigError(f"{where}: log must be true or false, got {spec['log']!r}")
        if spec.get("log") and low <= 0:
            raise ConfigError(f"{where}: bad range: a log scale needs low > 0, got {low}")
        if step is not None and (not _number(step) or step <= 0 or spec.get("log")):
            raise ConfigError(f"{where}: step must be a positive number and cannot go with log: true, got {step!r}")
    return out


def suggest(trial, key, spec):
    if spec["type"] == "categorical":
        return trial.suggest_categorical(key, spec["choices"])
    suggest_fn = trial.suggest_int if spec["type"] == "int" else trial.suggest_float
    extra = {"step": spec["step"]} if spec.get("step") is not None else {}
    return suggest_fn(key, spec["low"], spec["high"], log=bool(spec.get("log")), **extra)


def in_space(value, spec):
    if spec["type"] == "categorical":
        return value in spec["choices"]
    return _number(value) and spec["low"] <= value <= spec["high"]


def with_params(cfg, params):
    cfg = copy.deepcopy(cfg)
    for key, value in params.items():
        set_path(cfg, key, value)
    return cfg


class PruneOnValidation:
    """A Trainer callback: report the monitored score after each validation, stop when Optuna prunes."""

    def __init__(self, trial):
        self.trial, self.pruned = trial, False

    def __call__(self, trainer, epoch, row):
        score = row.get(trainer.monitor_key)
        if score is None or not math.isfinite(score):
            return None
        self.trial.report(score, epoch)
        if self.trial.should_prune():
            self.pruned = True
            return (f"trial {self.trial.number} pruned by Optuna's {type(self.trial.study.pruner).__name__} "
                    f"({trainer.monitor_key} {score:.4g})")
        return None


def open_storage(spec, study_dir, heartbeat=60):
    """A path ending in .log is a journal file (safe on network file systems); other paths are
    SQLite files; URLs (sqlite:///, postgresql://, mysql://) go to SQLAlchemy. Database storages
    get heartbeats: the trial of a killed process is failed and retried once."""
    spec = str(spec or Path(study_dir) / "study.db")
    if Path(spec).is_dir():
        raise ConfigError(f"--storage: {spec} is a folder; give a file in it (study.db for SQLite, study.log for a "
                          "journal on a network file system) or a database URL")
    if "://" not in spec and spec.endswith(".log"):
        Path(spec).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(spec))
    if "://" not in spec:
        Path(spec).parent.mkdir(parents=True, exist_ok=True)
        spec = f"sqlite:///{Path(spec).resolve()}"
    from sqlalchemy.exc import SQLAlchemyError

    with warnings.catch_warnings():  # heartbeats are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(
                spec, heartbeat_interval=heartbeat, grace_period=2 * heartbeat,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
        except (SQLAlchemyError, ImportError) as e:  # an unknown scheme, a missing driver, a database it cannot open
            raise ConfigError(f"--storage: cannot open {spec}: {str(e).splitlines()[0]}. Give a .db file (SQLite), a "
                              ".log journal file, or a database URL such as postgresql://user:password@host/db "
                              "with its driver installed") from e


def make_sampler(name, seed=None, startup_trials=10):
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup_trials)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"--sampler: {name!r} is not one of ['tpe', 'random']")


def make_pruner(name, startup_trials=3, warmup_epochs=1):
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=max(1, warmup_epochs))
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"--pruner: {name!r} is not one of ['median', 'hyperband', 'none']")


def resume_sampler(name, seed, startup_trials, study, path):
    """The sampler as it was after the study last drew (saved by `save_sampler`) when the seed and settings are
    the same; else a new one, its seed derived from the seed and the trials there (nearby seeds of NumPy's
    legacy generator start alike: seed + 3 drew almost the learning rates of seed)."""
    key = (name, seed, startup_trials)
    if seed is not None and path.is_file():
        saved = pickle.loads(path.read_bytes())  # written by save_sampler into the study's own folder
        if saved["key"] == key:
            return saved["sampler"]
    if seed is not None:
        seed = int(np.random.SeedSequence([seed, len(study.trials)]).generate_state(1)[0])
    return make_sampler(name, seed, startup_trials)


def save_sampler(sampler, key, path):
    _atomic(path, pickle.dumps({"key": key, "sampler": sampler}))


def check_identity(study, monitor, where):
    """A study is measured one way: resuming it by another metric or direction would rank its trials by both."""
    remembered = study.user_attrs.get("monitor")
    if (remembered or monitor) != monitor or study.direction.name.lower() != ("maximize" if monitor.startswith("max")
                                                                               else "minimize"):
        was = remembered or study.direction.name.lower()
        raise ConfigError(f"trainer.monitor: study {study.study_name} ({where}) measures its trials by '{was}', this "
                          f"config by '{monitor}'; a best trial over both would be wrong. Resume it with the same "
                          "trainer.monitor, or give a new --study")


def study_dir_of(cfg, study_name):
    return Path(get_path(cfg, "trainer.save_dir", "saved")) / "tune" / study_name


def run_study(cfg, space, n_trials, study_name=None, storage=None, sampler="tpe", seed=None, startup_trials=10,
              pruner=None, heartbeat=60, progress=True):
    """Run trials until the study holds `n_trials` finished (complete or pruned) ones; returns the study.
    A seeded sampler resumes from its saved state, so a resumed study draws what an uninterrupted one would."""
    from base.base_trainer import parse_monitor

    from .build import validate
    from .training import run_training

    validate(cfg, training=True)
    mode, monitor = parse_monitor(get_path(cfg, "trainer.monitor", "min val/loss"))
    if mode == "off":
        raise ConfigError("trainer.monitor: tuning needs a monitored metric ('max val/f1', 'min val/loss'), "
                          "not 'off'")
    study_name = study_name or cfg["name"]
    study_dir = study_dir_of(cfg, study_name)
    study = optuna.create_study(storage=open_storage(storage, study_dir, heartbeat), study_name=study_name,
                                direction="maximize" if mode == "max" else "minimize", load_if_exists=True,
                                pruner=pruner or make_pruner("median"))
    check_identity(study, f"{mode} {monitor}", study_dir)
    study.set_user_attr("monitor", f"{mode} {monitor}")
    key, sampler_file = (sampler, seed, startup_trials), study_dir / "sampler.pkl"
    study.sampler = resume_sampler(*key, study, sampler_file)
    baseline = {k: get_path(cfg, k) for k in space}
    if all(in_space(v, space[k]) for k, v in baseline.items()):  # the config as it is, tried first
        study.enqueue_trial(baseline, skip_if_exists=True)
    done = sum(t.state in FINISHED for t in study.trials)
    log.info(f"study {study_name} ({study_dir}): {done} of {n_trials} trials finished; {mode} {monitor}")

    def objective(trial):
        params = {k: suggest(trial, k, spec) for k, spec in space.items()}
        if seed is not None:
            save_sampler(study.sampler, key, sampler_file)
        tcfg = with_params(cfg, params)
        set_path(tcfg, "trainer.save_dir", str(study_dir))
        log.info(f"trial {trial.number}: " + ", ".join(f"{k}={v}" for k, v in params.items()))
        prune = PruneOnValidation(trial)
        _, summary = run_training(tcfg, run_id=f"trial{trial.number:04d}", callbacks=[prune])
        trial.set_user_attr("run_dir", summary["run_dir"])
        trial.set_user_attr("epochs", summary["last_epoch"])
        if prune.pruned:
            raise optuna.TrialPruned(summary["stop_reason"])
        return summary["best"] if summary["best"] is not None else math.nan

    if done < n_trials:
        study.optimize(objective, n_trials=n_trials - done, catch=(NonFiniteLossError,),
                       callbacks=[optuna.study.MaxTrialsCallback(n_trials, states=FINISHED)],
                       show_progress_bar=progress)
    return study


def write_results(study, cfg, out_dir):
    """trials.csv (params, score, state, run dir), best_config.json (loadable by train.py), and plots."""
    import json

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = study.trials_dataframe(attrs=("number", "state", "value", "params", "user_attrs", "duration"))
    if len(table):
        table = table.rename(columns=lambda c: c.replace("user_attrs_", "").replace("params_", ""))
        table["duration"] = table["duration"].dt.total_seconds().round(1)
    _atomic(out_dir / "trials.csv", table.to_csv(index=False))
    paths = {"trials": str(out_dir / "trials.csv")}
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None
                and math.isfinite(t.value)]
    if complete:
        best = study.best_trial
        best_cfg = with_params(cfg, best.params)
        monitor = study.user_attrs.get("monitor", "")
        best_cfg["description"] = (f"{cfg.get('description', '')} Tuned by tools/tune.py (study {study.study_name}, "
                                   f"trial {best.number}: {monitor} {best.value:.4g}; "
                                   + ", ".join(f"{k}={v}" for k, v in best.params.items()) + ").").strip()
        _atomic(out_dir / "best_config.json", json.dumps(best_cfg, indent=2))
        paths["best_config"] = str(out_dir / "best_config.json")
        log.info(f"best trial {best.number}: {monitor} {best.value:.4g} with "
                 + ", ".join(f"{k}={v}" for k, v in best.params.items()))
    paths.update(_plots(study, out_dir / "plots", len(complete)))
    return paths


def _plots(study, out_dir, n_complete):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    plots = {"optimization_history": ovm.plot_optimization_history,
             "intermediate_values": ovm.plot_intermediate_values}
    if n_complete >= 2:
        plots["param_importances"] = ovm.plot_param_importances
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, plot in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                ax = plot(study)
            except (ValueError, RuntimeError) as e:  # e.g. importances of one distinct value
                log.info(f"no {name} plot: {e}")
                continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        if name == "intermediate_values":  # Optuna's steps are this project's epochs
            ax.set_xlabel("epoch")
            ax.set_ylabel(study.user_attrs.get("monitor", "monitored metric"))
        fig.tight_layout()
        fig.savefig(out_dir / f"{name}.png", dpi=100)
        plt.close(fig)
        written[name] = str(out_dir / f"{name}.png")
    return written


def _atomic(path, data):
    from utils.paths import atomic_path

    with atomic_path(path) as tmp:  # processes sharing a study write in turn
        tmp.write_bytes(data) if isinstance(data, bytes) else tmp.write_text(data)
