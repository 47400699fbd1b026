"""The web demo in a real browser: `streamlit run app.py` on localhost, driven by headless Chromium
(Playwright with Debian's /usr/bin/chromium: nothing is downloaded). A photo gets the mask / gender /
age labels and the wrinkle area; bad uploads get a message, not a traceback."""
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from skimage import data
from skimage.io import imsave

from conftest import REPO
from tiny_checkpoints import tiny_checkpoint

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium browser: `make browser` installs Debian's chromium (needs apt-get and root)")
TIMEOUT_MS = 30_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory, action_videos):
    tmp = tmp_path_factory.mktemp("app")
    checkpoints = [tiny_checkpoint("face_heads", tmp / "mask.pth"), tiny_checkpoint("wrinkle", tmp / "wrinkle.pth"),
                   tiny_checkpoint("action_3d", tmp / "action.pth", f"data.dataset.args.root={action_videos}")]
    port = free_port()
    log = open(tmp / "streamlit.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--",
         *[a for c in checkpoints for a in ("--checkpoint", str(c))], "--max-upload-mb", "1", "--runs", str(tmp)],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not start:\n{(tmp / 'streamlit.log').read_text()}")
                time.sleep(0.3)
        yield url, tmp
    finally:
        server.terminate()
        server.wait(10)
        log.close()


@pytest.fixture(scope="module")
def page(app):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # expect() waits 5 s by default: too short for a first CPU prediction
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(app[0])
        yield page
        browser.close()


def upload(page, path):
    page.locator("input[type=file]").set_input_files(str(path))


def test_a_face_photo_gets_mask_gender_age_with_probabilities_and_the_wrinkle_area(app, page):
    from playwright.sync_api import expect

    photo = app[1] / "astronaut.png"
    imsave(photo, data.astronaut())  # a real face photo that ships with scikit-image
    upload(page, photo)
    main = page.locator("section.main, [data-testid='stMain']").first
    expect(main).to_contain_text(re.compile(r"mask: (wear|incorrect|not wear) \(\d+\.\d%\)"))
    expect(main).to_contain_text(re.compile(r"gender: (male|female) \(\d+\.\d%\)"))
    expect(main).to_contain_text(re.compile(r"age: (young|middle|old) \(.*\) \(\d+\.\d%\)"))
    expect(main).to_contain_text(re.compile(r"wrinkle area: \d+\.\d\d% of the image"))
    expect(main.get_by_text("wrinkle pixels in red")).to_be_visible()
    images = main.locator("[data-testid='stImage'] img")  # the photo and the wrinkle overlay, both decoded
    expect(images).to_have_count(2)
    for i in range(2):  # wait until each has loaded (or failed), then check it decoded
        images.nth(i).evaluate("img => img.complete || new Promise(done => { img.onload = img.onerror = done; })")
        assert images.nth(i).evaluate("img => img.naturalWidth") > 0
    assert "Traceback" not in main.inner_text()


def test_a_video_gets_the_action_and_bad_uploads_get_a_clear_message(app, page, action_videos):
    from playwright.sync_api import expect

    main = page.locator("section.main, [data-testid='stMain']").first
    upload(page, next((action_videos / "val/walk_left").glob("*.mp4")))
    expect(main).to_contain_text(re.compile(r"action: (fall|walk_left|walk_right|stand|appear) \(\d+\.\d%\)"))

    notes = app[1] / "notes.txt"
    notes.write_text("these are notes, not a photo")
    upload(page, notes)
    expect(main).to_contain_text("notes.txt is not an image that can be read")

    broken = app[1] / "broken.mp4"
    broken.write_bytes(b"\x00\x01 not a video" * 100)
    upload(page, broken)
    expect(main).to_contain_text(re.compile(r"cannot decode video broken\.mp4|video broken\.mp4"))

    huge = app[1] / "huge.jpg"
    huge.write_bytes(b"\xff" * 1_500_000)  # over the --max-upload-mb 1 the app was started with
    upload(page, huge)
    expect(main).to_contain_text("huge.jpg is 1.5 MB; files over 1 MB are refused")
    assert "Traceback" not in main.inner_text()
