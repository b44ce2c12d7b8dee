"""Adding a model is copying a folder: a new top-down module for a SimCC network (a small hand-built ONNX graph
whose one keypoint is the centre of its crop) on YOLOX person boxes, written as module.json, keypoints.json and
a module.py of a few lines, runs through keypoint_detection, `hub run`, `hub eval` and serving."""
import base64
import json
import os
import subprocess

import numpy as np
import pytest

import hub_core as hub
from conftest import DATA, hub_cmd
from hub_core import store
from hub_core.serving.app import create_app
from test_animal import constant_model

NAME = "toy_simcc_pose"
COCO = DATA / "body" / "coco_train_mini"
PERSON = DATA / "images" / "nanodet_person.jpg"
MODULE_PY = '''"""A toy SimCC pose network on person boxes: its one keypoint is the centre of the box."""
from hub_core.keypoint import KeypointModule


class ToySimccPose(KeypointModule):
    crop_padding = 1.0  # the detector box as it is, padded to the input's aspect
'''


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The module folder: SimCC bins of a 48x64 input at split ratio 2, peaked at the crop centre (24, 32)."""
    folder = tmp_path_factory.mktemp("new") / NAME
    (folder / "models").mkdir(parents=True)
    sx, sy = np.zeros((1, 1, 96), np.float32), np.zeros((1, 1, 128), np.float32)
    sx[0, 0, 48], sy[0, 0, 64] = 0.9, 0.8
    model = constant_model(folder / "models" / "toy_simcc.onnx", [sx, sy])
    (folder / "module.py").write_text(MODULE_PY)
    (folder / "module.json").write_text(json.dumps({
        "name": NAME, "version": "1.0.0", "type": "keypoint_detection", "summary": "box centre of each person",
        "license": "MIT", "default_detector": {"name": "yolox_nano_coco", "classes": ["person"]},
        "model_files": {"keypoint": {"file": model.name, "sha256": store.sha256_of(model),
                                     "size": model.stat().st_size, "url": None, "origin": "test", "license": "MIT"}}}))
    (folder / "keypoints.json").write_text(json.dumps({
        "task": "body", "dataset": "box centre", "num_keypoints": 1, "keypoints": ["centre"], "skeleton": [],
        "flip_pairs": [], "keypoint_colors": [[0, 255, 0]], "link_colors": [], "colour_order": "BGR",
        "sigmas": [0.05]}))
    assert len(MODULE_PY.splitlines()) < 30
    return folder


@pytest.fixture(scope="module")
def home(folder, tmp_path_factory):
    """A hub home with the folder installed, as `hub install DIR` does it."""
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HUB_HOME": str(home)}
    proc = subprocess.run(hub_cmd() + ["install", str(folder)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return env


def centres(entry):
    return np.array([[(i["box"][0] + i["box"][2]) / 2, (i["box"][1] + i["box"][3]) / 2] for i in entry["instances"]])


def test_keypoint_detection_places_the_point_at_each_person_box_centre(folder):
    entry = hub.Module(directory=folder).keypoint_detection(paths=[str(PERSON)])[0]
    assert entry["instances"] and {i["label"] for i in entry["instances"]} == {"person"}
    np.testing.assert_allclose(np.array(entry["data"])[:, 0], centres(entry), atol=0.01)
    assert all(i["keypoint_scores"] == [0.8] for i in entry["instances"])


def test_hub_run_and_hub_eval(home, tmp_path):
    run = subprocess.run(hub_cmd() + ["run", NAME, str(PERSON)], capture_output=True, text=True, env=home, timeout=120)
    assert run.returncode == 0, run.stderr
    (entry,) = json.loads(run.stdout)
    np.testing.assert_allclose(np.array(entry["data"])[:, 0], centres(entry), atol=0.01)
    # annotations: each COCO person's one keypoint is the centre of its annotated box
    coco = json.loads((COCO / "annotations" / "person_keypoints_train2017.json").read_text())
    images = coco["images"][:6]
    keep = {im["id"] for im in images}
    anns = [{**a, "keypoints": [a["bbox"][0] + a["bbox"][2] / 2, a["bbox"][1] + a["bbox"][3] / 2, 2], "num_keypoints": 1}
            for a in coco["annotations"] if a["image_id"] in keep and not a["iscrowd"] and a["num_keypoints"]]
    ann = tmp_path / "centres.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns,
                               "categories": [{"id": 1, "name": "person", "keypoints": ["centre"], "skeleton": []}]}))
    out = tmp_path / "report.json"
    ev = subprocess.run(hub_cmd() + ["eval", NAME, "--ann", str(ann), "--images", str(COCO / "train2017"), "--boxes",
                                     "gt", "--out", str(out)], capture_output=True, text=True, env=home, timeout=300)
    assert ev.returncode == 0, ev.stderr
    report = json.loads(out.read_text())
    assert report["task"] == "body" and report["matched"] == report["instances"] == len(anns)
    assert report["epe_px"] < 0.01 and report["pck@0.2"] == 1.0


def test_serving(home, monkeypatch):
    monkeypatch.setenv("HUB_HOME", home["HUB_HOME"])
    app = create_app({NAME: {}}, warm_up=False).test_client()
    reply = app.post(f"/predict/{NAME}", json={"images": [base64.b64encode(PERSON.read_bytes()).decode()]})
    assert reply.status_code == 200, reply.get_json()
    (entry,) = reply.get_json()["results"]
    np.testing.assert_allclose(np.array(entry["data"])[:, 0], centres(entry), atol=0.01)
    assert app.get("/models").get_json()["modules"][0]["keypoints"] == ["centre"]
