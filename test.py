"""Evaluate a trained checkpoint and write its predictions.

    python test.py --checkpoint saved/models/wrinkle_wbce/<run_id>/model_best.pth
    python test.py --checkpoint .../model_best.pth --split val --tune-threshold   # -> model_best_tuned.pth
    python test.py --checkpoint .../model_best.pth -o data.dataset.args.root=/data/other_faces

`--resume` (the name of earlier versions) is accepted for `--checkpoint`.

The config travels inside the checkpoint; --config (a delta) and -o still override it.
"""
import sys

from utils.cli import add_config_args, parser, resolve
from utils.config import dump
from utils.errors import USER_ERRORS


def main(argv=None):
    p = add_config_args(parser("Evaluate a checkpoint and write predictions."))
    p.add_argument("--checkpoint", "-r", "--resume", dest="checkpoint", required=True,
                   help="checkpoint to evaluate (model_best.pth); --resume is an alias")
    p.add_argument("--split", help="data split to evaluate (default: test if the config has one, else val)")
    p.add_argument("--out", help="output folder (default: <checkpoint dir>/test-<split>)")
    p.add_argument("--weights", choices=["auto", "model", "ema", "swa"], default="auto",
                   help="which weights: auto = those the file stands for (EMA when the run monitored val_ema/*, "
                        "the averaged ones in model_swa.pth)")
    p.add_argument("--threshold", type=float,
                   help="decision threshold for this evaluation (default: the one stored in the checkpoint)")
    p.add_argument("--tune-threshold", action="store_true",
                   help="pick the decision threshold with the best F1 on the val split first, and save a copy of "
                        "the checkpoint that holds it (the checkpoint itself is never rewritten): point the "
                        "predictor, the web demo, the export and later test.py runs at the copy")
    p.add_argument("--tuned-checkpoint", metavar="PATH",
                   help="where --tune-threshold saves the copy (default: <checkpoint stem>_tuned.pth beside it)")
    args = p.parse_args(argv)
    if args.tuned_checkpoint and not args.tune_threshold:
        p.error("--tuned-checkpoint names where --tune-threshold saves its copy; give --tune-threshold too")

    from logger import setup_logging
    from trainer import run_test
    from trainer.checkpoints import checkpoint_config
    from trainer.classes import explain_classes

    setup_logging(console=sys.stderr if args.print_config else None)  # --print-config: stdout is the config
    try:
        cfg = checkpoint_config(args.checkpoint)
        split = args.split or ("test" if "test" in cfg.get("data", {}) else "val")
        cfg = resolve(args, cfg, (("bs", f"data.{split}.loader.batch_size"),))
        if args.print_config:  # the config on stdout, where its class counts came from on stderr
            cfg, notes = explain_classes(cfg, split)
            print(dump(cfg))
            print("\n".join(f"# {n}" for n in notes), file=sys.stderr)
            return 0
        run_test(cfg, args.checkpoint, split=split, out_dir=args.out, weights=args.weights,
                 tune_threshold=args.tune_threshold, device=args.device or cfg.get("device"),
                 threshold=args.threshold, tuned_checkpoint=args.tuned_checkpoint)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
