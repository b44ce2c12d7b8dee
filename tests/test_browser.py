"""The serving page in a real browser: upload a face photo, see the landmarks drawn on the canvas."""
import base64
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from hub_core.serving.process import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "linzaer_13.jpg"
LANDMARKS = "face_landmark_localization"
DETECTOR = "ultra_light_fast_generic_face_detector_1mb_320"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed at /usr/bin/chromium "
                                                              "(apt-get install -y chromium)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    with ServerProcess(["-m", LANDMARKS, DETECTOR], env={"HUB_HOME": str(tmp), "HUB_NUM_THREADS": "1"},
                       log_path=tmp / "server.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            yield browser.new_page(viewport={"width": 1200, "height": 1000})
        finally:
            browser.close()


def wait_until(page, expression, timeout=60):
    """Poll a JavaScript expression from here: wait_for_function evaluates strings in the page, which its
    Content-Security-Policy (no 'unsafe-eval') forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        time.sleep(0.1)


def canvas_pixels(page):
    data_url = page.eval_on_selector("#canvas", "c => c.toDataURL('image/png')")
    png = base64.b64decode(data_url.split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def test_page_draws_landmarks(server, page, tmp_path):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    wait_until(page, "document.querySelectorAll('#module option').length === 2")
    page.select_option("#module", LANDMARKS)
    page.set_input_files("#file", str(PHOTO))
    wait_until(page, "/keypoints/.test(document.getElementById('count').textContent)")

    count = page.inner_text("#count")
    instances, points = (int(n) for n in re.match(r"(\d+) instances?, (\d+) keypoints", count).groups())
    assert instances >= 1 and points == 68 * instances
    shown = __import__("json").loads(page.inner_text("#json"))
    faces = shown["results"][0]["data"]
    assert len(faces) == instances

    # The canvas holds the photo at its own size with the landmarks drawn over it.
    drawn = canvas_pixels(page)
    photo = cv2.imread(str(PHOTO))
    assert drawn.shape == photo.shape
    changed = np.abs(drawn.astype(int) - photo.astype(int)).max(axis=2) > 60
    assert changed.sum() > 68 * instances * 3
    on_landmarks = [changed[int(round(y)), int(round(x))] for face in faces for x, y in face
                    if 0 <= round(x) < photo.shape[1] and 0 <= round(y) < photo.shape[0]]
    assert np.mean(on_landmarks) > 0.8
    assert changed.mean() < 0.2  # only the drawing changed, not the whole picture
    page.screenshot(path=str(tmp_path / "serving_page.png"), full_page=True)
    assert (tmp_path / "serving_page.png").stat().st_size > 10000
    assert not errors


def test_page_shows_detector_boxes(server, page):
    page.goto(server.url + "/")
    wait_until(page, "document.querySelectorAll('#module option').length === 2")
    page.select_option("#module", DETECTOR)
    page.set_input_files("#file", str(PHOTO))
    wait_until(page, "/instance/.test(document.getElementById('count').textContent)")
    assert re.fullmatch(r"[1-9]\d* instances?", page.inner_text("#count"))
