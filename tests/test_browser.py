"""The serving page in a real browser: upload a face photo, see the landmarks drawn on the canvas."""
import base64
import json
import os
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from hub_core.serving.process import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
PHOTO = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "linzaer_13.jpg"
AFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "face" / "300w_afw"


def shots(tmp_path):
    """Where the screenshots go: HUB_SCREENSHOTS=DIR keeps them for a person to look at."""
    folder = Path(os.environ.get("HUB_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
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


def _upload(page, server, path):
    page.goto(server.url + "/")
    wait_until(page, "document.querySelectorAll('#module option').length === 2")
    page.select_option("#module", LANDMARKS)
    page.set_input_files("#file", str(path))
    wait_until(page, "/keypoints/.test(document.getElementById('count').textContent)")

    count = page.inner_text("#count")
    instances, points = (int(n) for n in re.match(r"(\d+) instances?, (\d+) keypoints", count).groups())
    return instances, points


def _drawn_on_landmarks(page, photo):
    """(canvas pixels, photo scaled to the canvas, landmarks at the canvas scale, share of landmarks drawn)."""
    shown = json.loads(page.text_content("#json"))  # collapsed: not rendered, but there
    drawn = canvas_pixels(page)
    scale = drawn.shape[1] / photo.shape[1]
    plain = cv2.resize(photo, (drawn.shape[1], drawn.shape[0]), interpolation=cv2.INTER_LINEAR)
    changed = np.abs(drawn.astype(int) - plain.astype(int)).max(axis=2) > 60
    faces = [np.asarray(face) * scale for face in shown["results"][0]["data"]]
    on = [changed[int(round(y)), int(round(x))] for face in faces for x, y in face
          if 0 <= round(x) < drawn.shape[1] and 0 <= round(y) < drawn.shape[0]]
    return drawn, changed, faces, float(np.mean(on))


def test_page_draws_landmarks(server, page, tmp_path):
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    instances, points = _upload(page, server, PHOTO)
    assert instances >= 1 and points == 68 * instances
    photo = cv2.imread(str(PHOTO))
    drawn, changed, faces, on_landmarks = _drawn_on_landmarks(page, photo)
    assert len(faces) == instances
    # fitted to the view: the 1,100-pixel-wide page column, never wider than the window
    assert 800 <= drawn.shape[1] <= 1200 and abs(drawn.shape[0] / drawn.shape[1] - photo.shape[0] / photo.shape[1]) < 0.01
    assert on_landmarks > 0.8
    assert changed.mean() < 0.2  # only the drawing changed, not the whole picture
    page.screenshot(path=str(shots(tmp_path) / "serving_page.png"), full_page=True)
    assert (shots(tmp_path) / "serving_page.png").stat().st_size > 10000
    assert not errors


def test_small_image_shown_large_json_collapsed(server, page, tmp_path):
    """A 224-pixel face crop is shown at least 480 pixels wide with its landmarks on it; the JSON stays behind
    a toggle whose summary gives the counts and the time."""
    afw = json.loads((AFW / "annotations_68pt_coco.json").read_text())
    x, y, w, h = afw["annotations"][0]["bbox"]
    image = cv2.imread(str(AFW / next(i["file_name"] for i in afw["images"] if i["id"] == afw["annotations"][0]["image_id"])))
    side = int(max(w, h) * 1.6)
    cx, cy = int(x + w / 2), int(y + h / 2)
    crop = image[max(0, cy - side // 2):cy + side // 2, max(0, cx - side // 2):cx + side // 2]
    small = cv2.resize(crop, (224, 224), interpolation=cv2.INTER_AREA)
    path = tmp_path / "face224.png"
    cv2.imwrite(str(path), small)
    instances, points = _upload(page, server, path)
    assert instances >= 1 and points == 68 * instances
    width = page.eval_on_selector("#canvas", "c => c.getBoundingClientRect().width")
    assert width >= 480
    drawn, changed, faces, on_landmarks = _drawn_on_landmarks(page, small)
    assert drawn.shape[1] >= 480 and on_landmarks > 0.8
    assert page.eval_on_selector("#response", "d => d.open") is False and not page.is_visible("#json")
    assert re.match(r"Response: \d+ instances?, \d+ keypoints, \d+ ms", page.inner_text("#summary"))
    page.screenshot(path=str(shots(tmp_path) / "serving_page_224.png"), full_page=True)
    page.click("#summary")
    assert page.is_visible("#json")
    assert page.eval_on_selector("link[rel=icon]", "l => l.href").endswith("/static/favicon.svg")
    assert page.request.get(server.url + "/static/favicon.svg").status == 200


def test_page_shows_detector_boxes(server, page):
    page.goto(server.url + "/")
    wait_until(page, "document.querySelectorAll('#module option').length === 2")
    page.select_option("#module", DETECTOR)
    page.set_input_files("#file", str(PHOTO))
    wait_until(page, "/instance/.test(document.getElementById('count').textContent)")
    assert re.fullmatch(r"[1-9]\d* instances?", page.inner_text("#count"))
