"""Search hyperparameters with Optuna: every trial is a normal training run.

    python tools/tune.py --config configs/mask_multihead_quick.json --space space.yaml --trials 20
    python tools/tune.py --config configs/wrinkle_quick.json --space space.yaml --trials 40 --device cuda:1  # a 2nd GPU

The space file maps dotted config keys to ranges (trainer/tuning.py). Trials run in
`<save_dir>/tune/<study>/models/<name>/trialNNNN/` with their logs beside; the study is stored
in `<save_dir>/tune/<study>/study.db`, so running the same command again continues the study
until it holds --trials finished trials, and processes started with the same --study (and
--storage) share the work. Writes trials.csv, best_config.json and plots/*.png there.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils.cli import add_config_args, parser, resolve
from utils.config import read_file
from utils.errors import USER_ERRORS, ConfigError


def main(argv=None):
    p = add_config_args(parser("Search hyperparameters with Optuna; each trial is a normal training run."))
    p.add_argument("--space", required=True, help="search space file (.yaml/.json): dotted key -> range")
    p.add_argument("--trials", type=int, required=True,
                   help="finished (complete or pruned) trials the study should hold")
    p.add_argument("--study", help="study name (default: the config's name); its folder is <save_dir>/tune/<study>")
    p.add_argument("--storage", help="study storage: a .db file (SQLite, default <study folder>/study.db), a .log "
                                     "journal file (for network file systems) or a database URL")
    p.add_argument("--sampler", default="tpe", choices=["tpe", "random"])
    p.add_argument("--startup-trials", type=int, default=10, help="TPE: random trials before it models the space")
    p.add_argument("--pruner", default="median", choices=["median", "hyperband", "none"])
    p.add_argument("--prune-startup", type=int, default=3, help="median: finished trials before any is pruned")
    p.add_argument("--prune-warmup", type=int, default=1, help="epochs a trial runs before it may be pruned")
    p.add_argument("--seed", type=int, help="sampler seed (leave unset when several processes share a study)")
    p.add_argument("--heartbeat", type=int, default=60, help="seconds between a database storage's heartbeats; "
                                                             "a killed process's trial is retried after twice that")
    args = p.parse_args(argv)
    if not args.config:
        p.error("give --config")
    if args.trials < 1:
        p.error("--trials must be at least 1")

    from logger import setup_logging
    from trainer import tuning

    setup_logging()
    try:
        cfg = resolve(args, None, (("bs", "data.train.loader.batch_size"), ("device", "device")))
        if not Path(args.space).is_file():
            raise ConfigError(f"--space: file {args.space} not found; it maps config keys to ranges, e.g. "
                              "'optimizer.args.lr: {type: float, low: 1.0e-5, high: 1.0e-1, log: true}'")
        space = tuning.check_space(read_file(args.space), cfg, source=args.space)
        study = tuning.run_study(
            cfg, space, args.trials, study_name=args.study, storage=args.storage, heartbeat=args.heartbeat,
            sampler=args.sampler, seed=args.seed, startup_trials=args.startup_trials,
            pruner=tuning.make_pruner(args.pruner, args.prune_startup, args.prune_warmup),
            progress=sys.stderr.isatty())
        paths = tuning.write_results(study, cfg, tuning.study_dir_of(cfg, study.study_name))
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to continue the study", file=sys.stderr)
        return 130
    print("\n".join(f"{k}: {v}" for k, v in paths.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
