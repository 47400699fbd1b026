"""Web demo: the predictions of trained checkpoints on an uploaded face photo or short video (CPU is enough).

    streamlit run app.py
    streamlit run app.py -- --checkpoint saved/models/mask_multihead_quick/<run_id>/model_best.pth \
        --checkpoint saved/models/wrinkle_quick/<run_id>/model_best.pth --max-upload-mb 20

Face-attribute models give mask / gender / age with class probabilities, wrinkle models the
wrinkle overlay and area, action models (on a video) the action. The page is UI only: the
checkpoint -> prediction logic is deploy/predictor.py (docs/deployment.md).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

from data_loader.video_io import VIDEO_EXTS
from deploy.predictor import Predictor
from deploy.preprocessing import decode_image
from utils.errors import USER_ERRORS, DataError


def parse_args():
    p = argparse.ArgumentParser(description="facetrain web demo (arguments go after `streamlit run app.py --`)")
    p.add_argument("--checkpoint", action="append", default=[], help="a checkpoint to load (repeatable)")
    p.add_argument("--max-upload-mb", type=float, default=50.0, help="larger uploads are refused")
    p.add_argument("--max-megapixels", type=float, default=50.0, help="larger decoded images are refused")
    p.add_argument("--runs", default="saved/models", help="where the page looks for model_best.pth files")
    p.add_argument("--device", default="cpu", help="cpu, auto, cuda, ...")
    return p.parse_args(sys.argv[1:])


@st.cache_resource(show_spinner="loading checkpoint...")
def load(path, modified, device):  # `modified`: a rewritten checkpoint is loaded again
    return Predictor.from_checkpoint(path, device=device)


def choose_checkpoints(args):
    found = sorted(str(p) for p in Path(args.runs).glob("*/*/model_best.pth"))
    options = list(dict.fromkeys(args.checkpoint + found))
    chosen = st.sidebar.multiselect("Checkpoints", options, default=args.checkpoint)
    other = st.sidebar.text_input("Another checkpoint (path)")
    predictors = []
    for path in chosen + ([other.strip()] if other.strip() else []):
        try:
            modified = Path(path).stat().st_mtime if Path(path).is_file() else 0.0
            predictors.append(load(path, modified, args.device))
        except USER_ERRORS as e:
            st.sidebar.error(f"{path}: {e}")
        except Exception as e:  # a checkpoint from elsewhere must not take the page down
            st.sidebar.error(f"{path}: cannot be loaded: {type(e).__name__}: {e}")
    return predictors


def show_probabilities(title, probs):
    label, p = max(probs.items(), key=lambda kv: kv[1])
    st.markdown(f"**{title}**: {label} ({p:.1%})")
    return {name: f"{q:.1%}" for name, q in probs.items()}


def show_classes(predictor, image):
    """Each head's most likely class (a face-mask model's 18 classes only in the table below)."""
    probs = predictor.predict_image(image)
    shown = [k for k in probs if k != "class"] or ["class"]
    tables = {head: show_probabilities(head, probs[head]) if head in shown else
              {name: f"{q:.1%}" for name, q in probs[head].items()} for head in probs}
    with st.expander("class probabilities"):
        for head, table in tables.items():
            st.table(pd.DataFrame({head: list(table), "probability": list(table.values())}))


def show_wrinkles(predictor, image):
    result = predictor.predict_wrinkles(image)
    st.markdown(f"**wrinkle area**: {result.area_fraction:.2%} of the image (threshold {result.threshold:g})")
    st.image(result.overlay, caption="wrinkle pixels in red", width="stretch")


def show_action(predictor, video):
    table = show_probabilities("action", predictor.predict_video(video)["action"])
    st.table(pd.DataFrame({"action": list(table), "probability": list(table.values())}))


def run(predictor, show, *inputs):
    """One model's result; a bad input gets its message, never a traceback."""
    st.subheader(predictor.name)
    try:
        show(predictor, *inputs)
    except USER_ERRORS as e:
        st.error(str(e))
    except Exception as e:  # the page must stay up whatever the model meets
        st.error(f"{predictor.name} could not process this file: {type(e).__name__}: {e}")


def main():
    args = parse_args()
    st.set_page_config(page_title="facetrain demo")
    st.title("facetrain demo")
    predictors = choose_checkpoints(args)
    if not predictors:
        st.info("Choose a checkpoint in the sidebar (or start with `streamlit run app.py -- --checkpoint <path>`).")
        return
    upload = st.file_uploader(f"A face photo, or a short video for action models (up to {args.max_upload_mb:g} MB)")
    if upload is None:
        return
    if upload.size > args.max_upload_mb * 1e6:
        st.error(f"{upload.name} is {upload.size / 1e6:.1f} MB; files over {args.max_upload_mb:g} MB are refused "
                 "(--max-upload-mb)")
        return
    if Path(upload.name).suffix.lower() in VIDEO_EXTS:
        with tempfile.TemporaryDirectory() as tmp:
            video = Path(tmp) / Path(upload.name).name
            video.write_bytes(upload.getvalue())
            st.video(upload.getvalue())
            for predictor in predictors:
                if predictor.takes_video:
                    run(predictor, show_action, video)
                else:
                    st.info(f"{predictor.name} is a {predictor.family} model: upload a photo for it")
        return
    try:
        image = decode_image(upload.getvalue(), upload.name, max_pixels=args.max_megapixels * 1e6)
    except DataError as e:
        st.error(str(e))
        return
    st.image(image, caption=upload.name, width=320)
    for predictor in predictors:  # shown as what the model's family gives
        if predictor.takes_video:
            st.info(f"{predictor.name} is a {predictor.family} model: upload a video ({', '.join(VIDEO_EXTS)}) for it")
        else:
            run(predictor, show_wrinkles if predictor.family.gives == "mask" else show_classes, image)


main()
