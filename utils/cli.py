"""Command-line arguments shared by train.py, test.py and the tools."""
import argparse

from .config import apply_overrides, load_config, merge


def add_config_args(parser):
    parser.add_argument("-c", "--config", help="config file (.json/.yaml); with a checkpoint (--resume, --checkpoint), "
                                               "a delta over the checkpoint's config")
    parser.add_argument("-o", "--override", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                        help="override any key by dotted path, value read as YAML "
                             "(e.g. -o optimizer.args.lr=3e-4 trainer.epochs=5)")
    parser.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (config key: device)")
    parser.add_argument("--bs", type=int, help="batch size")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser


# Short training flags and the keys they set (with --bs and --device from add_config_args).
TRAIN_SHORTCUTS = (("lr", "optimizer.args.lr"), ("bs", "data.train.loader.batch_size"), ("epochs", "trainer.epochs"),
                   ("device", "device"), ("seed", "seed"))


def add_training_args(parser):
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--epochs", type=int, help="number of epochs")
    parser.add_argument("--seed", type=int, help="random seed")
    return parser


def resolve(args, base=None, shortcuts=()):
    """Config = base (e.g. from a checkpoint) <- --config file <- short flags <- -o overrides.
    `shortcuts` maps argparse names to dotted keys, e.g. {"lr": "optimizer.args.lr"}."""
    cfg = base or {}
    if args.config:
        cfg = merge(cfg, load_config(args.config))
    flags = [f"{key}={value}" for name, key in shortcuts for value in [getattr(args, name, None)] if value is not None]
    return apply_overrides(cfg, flags + list(args.override))


def int_in(low, high=None):
    """An argparse type: an integer in [low, high] (high None: no upper bound), refused with the range."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"expected an integer {bounds}, got {text!r}")
        return value
    return parse


class _Defaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows real defaults only: an option without one says in its help what happens when it is left out."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def parser(description):
    return argparse.ArgumentParser(description=description, formatter_class=_Defaults)
