"""Transfer learning pays: at equal epochs and seed, the pretrained recipes that start from the real
ImageNet files beat the same recipes from scratch, on real photos (the wrinkle photo samples) and
on the mask sample faces. The numbers are those of the guides' "Transfer learning" sections."""
from conftest import REPO
from samples.mask_faces import generate_mask_dataset
from samples.wrinkle_photos import generate_wrinkle_photos
from trainer import run_training
from utils.config import apply_overrides, load_config

QUIET = ["device=cpu", "data.loader.num_workers=0", "trainer.progress=none", "trainer.tensorboard=false",
         "trainer.report=false", "trainer.train_metrics=false"]


def pretrained_and_scratch(config, weights_key, tmp_path, overrides, edit):
    """The best value of the monitored metric: the recipe as it is, then with `weights_key` null (scratch)."""
    scores = []
    for weights in ([], [f"{weights_key}=null"]):
        cfg = load_config(REPO / "configs" / config)
        edit(cfg)
        cfg = apply_overrides(cfg, [f"trainer.save_dir={tmp_path / str(len(scores))}", *QUIET, *overrides, *weights])
        scores.append(round(run_training(cfg)[1]["best"], 3))
    return scores


def test_an_imagenet_encoder_finds_thin_wrinkles_on_real_photos_where_scratch_does_not(tmp_path, one_thread):
    """Thin sparse wrinkles on photos training never saw, scored by F1 at the best threshold of the grid (the
    decision the checkpoint keeps). The quick recipe with a 2-stage encoder, crops that hold wrinkles and
    BCE + soft F1 (what thin structures need), the same for both runs."""
    def edit(cfg):
        cfg["loss"] = {"type": "WeightedSum", "args": {"terms": [
            {"type": "WeightedBCE", "args": {"pos_weight": "auto", "max_pos_weight": 10}, "name": "bce"},
            {"type": "SoftF1Loss", "name": "f1"}]}}
        cfg["data"]["train"]["transform"][:2] = [
            {"type": "CropNonEmptyMaskIfExists", "args": {"height": 160, "width": 160}}]
        cfg["metrics"] = [{"type": "BinarySegMetrics", "args": {"tune_threshold": True}}]

    root = generate_wrinkle_photos(tmp_path / "wrinkle_photos", n_train=24, n_val=8, n_test=1, seed=0, progress=False)
    args = (f"data.dataset.args.root={root}", "trainer.epochs=10", "trainer.val_every=5",
            "trainer.monitor=max val/f1_best", "model.args.encoder_depth=2", "model.args.decoder_channels=[16, 8]")
    pretrained, scratch = pretrained_and_scratch("wrinkle_pretrained_quick.json", "model.args.encoder_weights",
                                                 tmp_path, args, edit)
    assert pretrained >= 0.06 and pretrained >= 4 * scratch, (pretrained, scratch)


def test_imagenet_weights_learn_the_mask_sample_faces_faster_than_scratch(tmp_path, one_thread):
    """The quick multi-head recipe on 64x48 crops of half-size photos, 6 epochs: macro F1 over the 18 classes.
    (After 4 epochs the ImageNet start ranged 0.24-0.40 over seeds 42, 1, 2; after 6, 0.39-0.49 against
    0.08-0.13 from scratch.)"""
    root = generate_mask_dataset(tmp_path / "mask_faces", n_train=24, n_eval=1, seed=5, size=(192, 256))

    def half_size(cfg):
        for split in ("train", "val"):
            cfg["data"][split]["transform"][0]["args"].update(height=200, width=160)
            cfg["data"][split]["transform"][1]["args"].update(height=64, width=48)

    pretrained, scratch = pretrained_and_scratch("mask_multihead_pretrained_quick.json", "model.args.backbone_weights",
                                                 tmp_path, (f"data.dataset.args.root={root}", "trainer.epochs=6"),
                                                 half_size)
    assert pretrained >= 0.3 and pretrained >= scratch + 0.2, (pretrained, scratch)
