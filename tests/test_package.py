"""What a stranger gets: the wheel installed in a fresh virtual environment, used from another folder;
`hub download` bundles installed on an air-gapped machine."""
import json
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

from conftest import DATA, MODELS, REPO, hub_cmd

PHOTO = DATA / "images" / "linzaer_13.jpg"
HAND = DATA / "hand" / "mmpose_tests" / "onehand10k" / "1402.jpg"
BUNDLED = {"animal_pose_estimation", "face_landmark_localization", "hand_pose_localization",
           "human_pose_estimation", "palm_detection", "picodet_s_320_pedestrian",
           "ultra_light_fast_generic_face_detector_1mb_320", "ultra_light_fast_generic_face_detector_1mb_640",
           "whole_image_detector", "yolox_nano_coco"}


def run(cmd, env=None, cwd=None, timeout=600):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "-q", ".", "--no-deps", "-w", out], cwd=REPO)
    (path,) = out.glob("keypoint_hub-*.whl")
    return path


def test_wheel_keeps_everything_inside_its_namespace(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"hub_core", wheel.name.split("-py3")[0] + ".dist-info"}
    for module in BUNDLED:
        assert f"hub_core/modules/{module}/module.py" in names and f"hub_core/modules/{module}/module.json" in names
    assert "hub_core/modules/animal_pose_estimation/models/animal_mouse_openfield.onnx" in names
    assert "hub_core/modules/face_landmark_localization/keypoints.json" in names
    assert {"hub_core/serving/app.py", "hub_core/serving/static/index.html", "hub_core/__main__.py"} <= set(names)
    assert not [n for n in names if n.endswith(".onnx") and "animal_pose_estimation" not in n]


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_from_another_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    python, hub = venv / "bin" / "python", venv / "bin" / "hub"
    run([python, "-m", "pip", "install", "-q", wheel], timeout=900)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"HUB_HOME": str(tmp_path / "home"), "HUB_MODEL_MIRRORS": str(MODELS), "PYTHONPATH": ""}
    listed = json.loads(run([hub, "list", "--json"], env=env, cwd=elsewhere).stdout)
    assert {m["name"] for m in listed} == BUNDLED and all(m["source"] == "bundled" for m in listed)
    (entry,) = json.loads(run([hub, "run", "face_landmark_localization", PHOTO], env=env, cwd=elsewhere).stdout)
    assert len(entry["data"]) >= 2 and all(len(face) == 68 for face in entry["data"])
    where = run([python, "-c", "import hub_core; print(hub_core.__file__)"], env=env, cwd=elsewhere).stdout
    assert str(venv) in where
    assert run([python, "-m", "hub_core", "version"], env=env, cwd=elsewhere).stdout.startswith("keypoint-hub ")
    # With no module at all, the list is empty, not a traceback.
    import shutil
    shutil.rmtree(next((venv / "lib").glob("python*/site-packages/hub_core/modules")))
    assert run([hub, "list"], env=env, cwd=elsewhere).stdout == ""
    assert json.loads(run([hub, "list", "--json"], env=env, cwd=elsewhere).stdout) == []


def hub(*args, env=None):
    return run(hub_cmd() + list(args), env=env, cwd=REPO)


@pytest.mark.parametrize("module,image,archive", [("face_landmark_localization", PHOTO, False),
                                                  ("hand_pose_localization", HAND, True)])
def test_download_bundle_runs_air_gapped(module, image, archive, tmp_path):
    hub("download", module, "--output_dir", tmp_path / "pack")
    bundle = tmp_path / "pack" / module
    detector = json.loads((REPO / "modules" / module / "module.json").read_text())["default_detector"]["name"]
    assert (bundle / "dependencies" / detector / "module.json").is_file()
    if archive:
        with tarfile.open(tmp_path / "bundle.tar.gz", "w:gz") as tar:
            tar.add(bundle, arcname=module)
        bundle = tmp_path / "bundle.tar.gz"
    # Another machine: a fresh hub home, no mirror, no network.
    env = {"HUB_HOME": str(tmp_path / "other"), "HUB_MODEL_MIRRORS": "", "HUB_OFFLINE": "1"}
    hub("install", bundle, env=env)
    listed = {m["name"]: m["source"] for m in json.loads(hub("list", "--json", env=env).stdout)}
    assert listed[module] == listed[detector] == "installed"
    (entry,) = json.loads(hub("run", module, "--input_path", image, env=env).stdout)
    assert "error" not in entry and len(entry["instances"]) >= 1
    assert len(entry["instances"][0]["keypoints"]) == (68 if module.startswith("face") else 21)
