"""Train the partitioned wrinkle model: one normal training run per face part, then one merged checkpoint.

    python tools/train_parts.py --config configs/wrinkle_partitioned.json
    python tools/train_parts.py --config configs/wrinkle_partitioned.json --part forehead --part left_cheek
    python tools/train_parts.py --config ... --experiment <id> --part right_cheek   # add a part to an experiment
    python tools/train_parts.py --config ... --experiment <id> --merge-only          # merge again
    python test.py --resume saved/models/wrinkle_partitioned/<id>/model_merged.pth

Each part runs trainer.run_training on the config with `data.<split>.dataset.args.part` set, in
saved/models/<name>/<id>/<part>/ (logs: saved/log/<name>/<id>/<part>/), so each part has its own
checkpoints, metrics.csv and TensorBoard. The merge takes every trained part's model_best.pth
(model_last.pth when the run had no monitor; EMA weights when it monitored them) into a
PartitionedSegmenter and writes <id>/model_merged.pth, a normal checkpoint (config + weights)
whose config evaluates whole images (part null, Direct inference without padding), keeps
the loss (pos_weight estimated on whole training images, as the whole-face run does) and adds a
PartOverlayWriter.
"""
import copy
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utils.cli import TRAIN_SHORTCUTS, add_config_args, add_training_args, parser, resolve
from utils.config import dump
from utils.errors import USER_ERRORS, CheckpointError, ConfigError, NonFiniteLossError

log = logging.getLogger("facetrain")
SPLITS = ("train", "val", "test")


def regions_spec(cfg):
    """The `regions` of the training dataset (the config must use a part dataset)."""
    from trainer.build import split_config

    dataset, _, _ = split_config(cfg, "train")
    args = dataset.get("args") or {}
    if "regions" not in args:
        raise ConfigError(f"data.dataset.args.regions: missing; train_parts needs a part dataset with `regions` "
                          f"and `part` (e.g. WrinklePartDataset), this config's is {dataset.get('type')!r}")
    return args["regions"]


def with_part(cfg, part):
    """The config with every split's dataset set to `part` (None: whole images)."""
    cfg = copy.deepcopy(cfg)
    data = cfg["data"]
    for block in [data.setdefault("dataset", {})] + [data[s].setdefault("dataset", {}) for s in SPLITS if s in data]:
        block.setdefault("args", {})["part"] = part
    return cfg


def merged_config(cfg, regions, models, experiment):
    """The config of model_merged.pth: the merged model on whole images."""
    cfg = with_part(cfg, None)
    cfg.pop("load_from", None)
    divisor = ((cfg.get("inference") or {}).get("args") or {}).get("divisor", 32)
    cfg["model"] = {"type": "PartitionedSegmenter",
                    "args": {"regions": regions, "models": models, "divisor": divisor, **_normalization(cfg)}}
    # Regions are fractions of the true image size: nothing pads the image before the model (the model
    # pads each part's crop itself), and batches of mixed sizes run one size at a time (infer_batch).
    cfg["inference"] = {"type": "Direct", "args": {"divisor": 1}}
    writers = cfg.setdefault("test", {}).setdefault("writers", [])
    drawn = {**regions, "parts": {p: box for p, box in regions["parts"].items() if p in models}}
    writers.append({"type": "PartOverlayWriter", "args": {"regions": drawn}})
    cfg["description"] = f"{len(models)} part models of experiment {experiment} merged ({', '.join(models)})"
    return cfg


def _normalization(cfg):
    """The evaluation transform's normalisation (as the predictor reads it: none means /255), so the
    merged model can undo it for a landmark detector."""
    from data_loader import build_transform
    from deploy.preprocessing import describe
    from trainer import build as B

    _, transform, _ = B.split_config(cfg, "val")
    d = describe(build_transform(transform, "data.val.transform"))
    return {"input_mean": d["mean"], "input_std": d["std"], "max_pixel_value": d["max_pixel_value"]}


def part_checkpoint(run_dir):
    for name in ("model_best.pth", "model_last.pth"):
        if (run_dir / name).is_file():
            return run_dir / name
    return None


def merge(cfg, models_dir, experiment):
    """Write models_dir/model_merged.pth from the parts trained so far; returns its path."""

    from trainer import build as B
    from trainer.checkpoints import pick_weights
    from utils.checkpoint import load_checkpoint, load_weights, save_checkpoint

    regions = regions_spec(cfg)
    names = list(regions["parts"])
    found = {p: part_checkpoint(models_dir / p) for p in names}
    missing = [p for p, path in found.items() if path is None]
    found = {p: path for p, path in found.items() if path is not None}
    if not found:
        raise CheckpointError(f"no part of {names} has a checkpoint under {models_dir}; train them first")
    if missing:
        log.warning(f"merging {len(found)} of {len(names)} parts; not trained yet: {missing} (no prediction there)")
    state, blocks, info = {}, {}, {}
    for part, path in found.items():
        ckpt = load_checkpoint(path)
        which, weights = pick_weights(ckpt, "auto")
        state.update({f"models.{part}.{k}": v for k, v in weights.items()})
        blocks[part] = ckpt["config"]["model"]
        monitor = ckpt.get("monitor") or {}
        info[part] = {"checkpoint": str(path), "epoch": ckpt.get("epoch"), "weights": which,
                      "monitor": monitor.get("key"), "best": monitor.get("best")}
    merged = merged_config(cfg, regions, blocks, experiment)
    model = B.build_model(merged, load_weights_from_config=False)
    load_weights(model, state, strict=True, source=f"parts of {models_dir}")
    criterion = B.build_criterion(merged) if merged.get("loss") else None
    if criterion is not None and hasattr(criterion, "prepare"):
        criterion.prepare(B.build_dataset(merged, "train"))  # e.g. pos_weight over whole training masks
    out = models_dir / "model_merged.pth"
    save_checkpoint({"model": model.state_dict(), "config": merged, "epoch": None, "parts": info,
                     "criterion": criterion.state_dict() if criterion is not None else None,
                     "run": {"name": cfg["name"], "run_id": experiment}}, out)
    for part, i in info.items():
        best = f"{i['monitor']} {i['best']:.4f}" if i["best"] is not None else "no monitor"
        log.info(f"  {part:20s} epoch {i['epoch']}  {best}  {i['checkpoint']}")
    log.info(f"merged {len(found)} parts -> {out}\nevaluate: python test.py --resume {out}")
    return out


def train_parts(cfg, parts=None, experiment=None, merge_only=False):
    """Train `parts` (default: all) in `experiment` (default: a new one), then merge. Returns model_merged.pth."""
    from logger import setup_logging
    from trainer import run_training
    from trainer.options import TrainerOptions
    from utils.paths import RunPaths

    names = list((regions_spec(cfg).get("parts") or {}))
    unknown = [p for p in parts or () if p not in names]
    if unknown:
        raise ConfigError(f"--part {unknown[0]}: not a region of this config; regions.parts has {names}")
    parts = list(dict.fromkeys(parts or names))
    save_dir = TrainerOptions.from_config(cfg.get("trainer")).save_dir
    if experiment is None:
        if merge_only:
            raise ConfigError("--merge-only needs --experiment <id> (a folder under "
                              f"{Path(save_dir) / 'models' / cfg['name']})")
        experiment = RunPaths.create(save_dir, cfg["name"]).run_id  # claims the id
    paths = RunPaths(save_dir, cfg["name"], experiment).ensure()
    if not merge_only:
        done = [p for p in parts if (paths.models / p).exists()]
        if done:
            raise ConfigError(f"experiment {experiment} already has {done} ({paths.models}); delete those folders to "
                              "train them again, or leave them out of --part")
        for i, part in enumerate(parts, 1):
            log.info(f"=== part {i}/{len(parts)}: {part} ===")
            run_training(with_part(cfg, part), run_id=f"{experiment}/{part}")
    setup_logging(paths.log / "train_parts.log")
    return merge(cfg, paths.models, experiment)


def main(argv=None):
    p = parser("Train one model per face part, then merge them into one checkpoint.")
    p = add_training_args(add_config_args(p))
    p.add_argument("--part", action="append", help="train only this part (repeatable; default: every part)")
    p.add_argument("--experiment", help="experiment id to add parts to / merge (default: a new timestamp)")
    p.add_argument("--merge-only", action="store_true", help="only merge the parts already trained in --experiment")
    args = p.parse_args(argv)
    if not args.config:
        p.error("give --config")

    from logger import setup_logging

    setup_logging()
    try:
        cfg = resolve(args, None, TRAIN_SHORTCUTS)
        if args.print_config:
            print(dump(cfg))
            return 0
        train_parts(cfg, args.part, args.experiment, args.merge_only)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
