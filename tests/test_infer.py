"""hub.infer input sources, `hub run` output layouts and formats, drawing options, aliases."""
import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

import hub_core as hub
from hub_core import draw
from hub_core.aliases import resolve
from conftest import DATA, hub_cmd

IMAGES = DATA / "images"
FACES = IMAGES / "linzaer_13.jpg"


def hub_run(*args):
    proc = subprocess.run(hub_cmd() + ["run", *map(str, args)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("in")
    for name in ("linzaer_13.jpg", "linzaer_1.jpg", "nanodet_dog.jpg"):
        shutil.copy(IMAGES / name, d / name)
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture(scope="module")
def face():
    return hub.Module(name="face_landmark_localization")


def test_folder_glob_array_list(folder, face):
    with pytest.warns(UserWarning, match="notes.txt"):
        names = [n for n, _ in hub.infer(face, str(folder))]
    assert [n.rsplit("/", 1)[1] for n in names] == ["linzaer_1.jpg", "linzaer_13.jpg", "nanodet_dog.jpg"]
    globbed = list(hub.infer(face, str(folder / "linzaer_*.jpg")))
    assert [n.rsplit("/", 1)[1] for n, _ in globbed] == ["linzaer_1.jpg", "linzaer_13.jpg"]
    image = cv2.imread(str(FACES))
    (_, single), = hub.infer(face, image)
    assert len(single["data"]) >= 2 and single["path"] is None
    pair = list(hub.infer(face, [image, image[:, ::-1].copy()], batch_size=2))
    assert [n for n, _ in pair] == ["images[0]", "images[1]"]
    assert len(pair[1][1]["data"]) >= 1
    assert np.allclose(pair[0][1]["data"], single["data"], atol=0.05)
    with pytest.raises(ValueError, match="no such file"):
        list(hub.infer(face, str(folder / "missing.jpg")))


def test_batching_across_images_matches_batch_1(folder, face):
    one = [e["data"] for _, e in hub.infer(face, str(folder), batch_size=1)]
    three = [e["data"] for _, e in hub.infer(face, str(folder), batch_size=3)]
    assert len(one) == 3 and len(one[1]) >= 2
    for a, b in zip(one, three):
        assert len(a) == len(b) and (not a or np.allclose(a, b, atol=0.05))


def test_bad_image_isolated(tmp_path, face):
    shutil.copy(FACES, tmp_path / "a.jpg")
    (tmp_path / "b.jpg").write_text("hello")
    results = [e for _, e in hub.infer(face, str(tmp_path), batch_size=2)]
    assert len(results[0]["data"]) >= 2 and "not a decodable image" in results[1]["error"]


def test_run_folder_writes_one_prediction_per_image(folder, tmp_path):
    out = tmp_path / "out"
    proc = hub_run("face", "--input_path", folder, "--output_dir", out, "--save_predictions", "--visualization",
                   "--batch_size", 2, "--quiet")
    assert proc.stdout == ""
    preds = sorted(p.name for p in (out / "predictions").iterdir())
    assert preds == ["linzaer_1.json", "linzaer_13.json", "nanodet_dog.json"]
    entry = json.loads((out / "predictions" / "linzaer_13.json").read_text())
    assert len(entry["data"]) >= 2 and all(len(k) == 68 for k in entry["data"])
    assert sorted(p.name for p in (out / "visualizations").iterdir()) == ["linzaer_1.jpg", "linzaer_13.jpg",
                                                                        "nanodet_dog.jpg"]


def test_run_coco_and_jsonl_formats(folder, tmp_path):
    proc = hub_run("face", "--input_path", folder / "linzaer_13.jpg", "--output_format", "coco")
    records = json.loads(proc.stdout)
    assert len(records) >= 2
    assert {"image_id", "category_id", "keypoints", "score"} == set(records[0])
    assert len(records[0]["keypoints"]) == 68 * 3 and records[0]["category_id"] == 1
    proc = hub_run("face", "--input_path", folder, "--output_format", "jsonl")
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3 and len(json.loads(lines[1])["data"]) >= 2
    hub_run("face", "--input_path", folder, "--output_format", "jsonl", "--output_dir", tmp_path, "--quiet")
    assert len((tmp_path / "predictions" / "predictions.jsonl").read_text().splitlines()) == 3


def test_aliases():
    assert resolve("face") == "face_landmark_localization"
    assert resolve("hand") == "hand_pose_localization"
    assert resolve("human") == resolve("body") == "human_pose_estimation"
    assert resolve("animal") == "animal_pose_estimation"
    assert resolve("face_landmark_localization") == "face_landmark_localization"
    proc = hub_run("--show_alias")
    assert "hand" in proc.stdout and "hand_pose_localization" in proc.stdout
    (entry,) = json.loads(hub_run("body", "--input_path", IMAGES / "nanodet_person.jpg").stdout)
    assert len(entry["instances"]) >= 1 and len(entry["data"][0]) == 17


def test_each_drawing_option_changes_the_image():
    body = hub.Module(name="human_pose_estimation")
    image = cv2.imread(str(IMAGES / "nanodet_person.jpg"))
    (_, entry), = hub.infer(body, image)
    assert entry["instances"]
    base = draw.draw(image, entry, body.meta)
    assert np.abs(base.astype(int) - image).sum() > 0
    scores = [s for inst in entry["instances"] for s in inst["keypoint_scores"]]
    options = {"radius": 9, "thickness": 6, "kpt_thr": float(np.median(scores)), "draw_bbox": False,
               "black_background": True, "show_kpt_idx": True, "skeleton_style": "openpose",
               "bbox_thr": max(i["box_score"] for i in entry["instances"]) + 0.01}
    for name, value in options.items():
        changed = draw.draw(image, entry, body.meta, **{name: value})
        assert np.abs(changed.astype(int) - base).sum() > 0, name
    black = draw.draw(image, entry, body.meta, black_background=True)
    assert (black == 0).mean() > 0.5  # the photo is gone, only the drawing remains
    hidden = draw.draw(image, entry, body.meta, bbox_thr=options["bbox_thr"])
    assert np.array_equal(hidden, image)  # every instance under the box threshold: nothing drawn


def test_http_url_input(face):
    import functools
    import http.server
    import threading
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(IMAGES))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/linzaer_13.jpg"
        (name, entry), = hub.infer(face, url)
        (_, local), = hub.infer(face, str(FACES))
        assert name == url and entry["path"] == url
        assert np.allclose(entry["data"], local["data"], atol=0.01)
        (_, missing), = hub.infer(face, url.replace("linzaer_13", "nope"))
        assert "cannot fetch" in missing["error"]
    finally:
        server.shutdown()
