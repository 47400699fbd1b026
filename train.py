"""Train a model from a config.

    python train.py --config configs/wrinkle_quick.json
    python train.py --config configs/wrinkle_wbce.json -o optimizer.args.lr=3e-4 --epochs 50
    python train.py --resume saved/models/wrinkle_wbce/<run_id>/model_last.pth
"""
import sys

from utils.cli import TRAIN_SHORTCUTS, add_config_args, add_training_args, parser, resolve
from utils.config import dump
from utils.errors import USER_ERRORS, NonFiniteLossError


def main(argv=None):
    p = add_training_args(add_config_args(parser("Train a model from a config.")))
    p.add_argument("-r", "--resume", help="checkpoint to continue from (model_last.pth): restores everything")
    args = p.parse_args(argv)
    if not args.config and not args.resume:
        p.error("give --config, or --resume to continue a run")

    from logger import setup_logging
    from trainer import run_training
    from trainer.checkpoints import checkpoint_config
    from trainer.classes import explain_classes

    setup_logging(console=sys.stderr if args.print_config else None)  # --print-config: stdout is the config
    try:
        base = checkpoint_config(args.resume) if args.resume else None
        cfg = resolve(args, base, TRAIN_SHORTCUTS)
        if args.print_config:  # the config on stdout, where its class counts came from on stderr
            cfg, notes = explain_classes(cfg, "train")
            print(dump(cfg))
            print("\n".join(f"# {n}" for n in notes), file=sys.stderr)
            return 0
        run_training(cfg, resume=args.resume)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; continue with --resume <run dir>/model_last.pth", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
