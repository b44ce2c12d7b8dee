"""The `hub` command: run, list, show, install (name / folder / .tar.gz), download, uninstall."""
import json
import os
import shutil
import subprocess
import tarfile

import cv2
import numpy as np

from conftest import DATA, REPO, hub_cmd

PHOTO = DATA / "images" / "linzaer_1.jpg"


def hub(*args, env=None, check=False):
    proc = subprocess.run(hub_cmd() + list(map(str, args)), capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_console_script_is_installed():
    assert shutil.which("hub"), "pip install -e . should put `hub` on PATH"


def test_run_prints_68_points_per_face():
    proc = hub("run", "face_landmark_localization", "--input_path", PHOTO, check=True)
    (entry,) = json.loads(proc.stdout)
    assert len(entry["data"]) > 20 and all(len(face) == 68 for face in entry["data"])


def test_run_folder_with_flags(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "b.jpg")
    shutil.copy(DATA / "images" / "nanodet_dog.jpg", folder / "a.jpg")
    (folder / "readme.txt").write_text("not an image")
    out = tmp_path / "out"
    proc = hub("run", "face_landmark_localization", "--input_path", folder, "--batch_size", 2,
               "--visualization", "--output_dir", out, check=True)
    results = json.loads(proc.stdout)
    assert [os.path.basename(r["path"]) for r in results] == ["a.jpg", "b.jpg"]
    assert results[0]["data"] == [] and len(results[1]["data"]) > 20
    assert "readme.txt" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg", "b.jpg"]


def test_run_detector_module():
    proc = hub("run", "ultra_light_fast_generic_face_detector_1mb_320", "--input_path", PHOTO, check=True)
    (entry,) = json.loads(proc.stdout)
    assert len(entry["data"]) >= 10 and {"left", "top", "right", "bottom", "confidence"} <= set(entry["data"][0])


def test_run_bad_inputs_exit_non_zero_with_one_line(tmp_path):
    proc = hub("run", "face_landmark_localization", "--input_path", tmp_path / "missing.jpg")
    assert proc.returncode != 0 and proc.stderr.strip().count("\n") == 0 and "missing.jpg" in proc.stderr
    fake = tmp_path / "fake.jpg"
    fake.write_text("hello")
    proc = hub("run", "face_landmark_localization", "--input_path", fake)
    assert proc.returncode != 0 and "fake.jpg" in proc.stderr and "not a decodable image" in proc.stderr
    proc = hub("run", "no_such_module", "--input_path", PHOTO)
    assert proc.returncode != 0 and "unknown module" in proc.stderr


def test_list_show_version():
    names = [m["name"] for m in json.loads(hub("list", "--json", check=True).stdout)]
    assert {"face_landmark_localization", "ultra_light_fast_generic_face_detector_1mb_640",
            "ultra_light_fast_generic_face_detector_1mb_320"} <= set(names)
    info = json.loads(hub("show", "face_landmark_localization", check=True).stdout)
    assert info["keypoints"]["num_keypoints"] == 68
    assert info["model_files"]["mobilefacenet_68"]["sha256"].startswith("10440965")
    assert "keypoint-hub" in hub("version", check=True).stdout
    assert "install" in hub("help", check=True).stdout


def test_install_folder_and_tarball_then_uninstall(tmp_path):
    env = {"HUB_HOME": str(tmp_path / "home")}
    src = REPO / "modules" / "ultra_light_fast_generic_face_detector_1mb_320"
    hub("install", src, env=env, check=True)
    assert (tmp_path / "home" / "modules" / src.name / "module.py").is_file()
    listed = json.loads(hub("list", "--json", env=env, check=True).stdout)
    assert {"name": src.name, "version": "1.1.0", "type": "face_detection", "source": "installed"} in listed
    hub("uninstall", src.name, env=env, check=True)
    assert not (tmp_path / "home" / "modules" / src.name).exists()
    archive = tmp_path / "mod.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    hub("install", archive, env=env, check=True)
    assert (tmp_path / "home" / "modules" / src.name / "module.py").is_file()
    assert hub("uninstall", "never_installed", env=env).returncode != 0


def test_download_then_install_air_gapped(tmp_path):
    hub("download", "face_landmark_localization", "--output_dir", tmp_path / "pack", check=True)
    pack = tmp_path / "pack" / "face_landmark_localization"
    assert (pack / "models" / "mobilefacenet_68.onnx").is_file()
    # Another machine: no mirror, no network; the weights travel with the folder.
    env = {"HUB_HOME": str(tmp_path / "other"), "HUB_MODEL_MIRRORS": "", "HUB_OFFLINE": "1"}
    hub("install", pack, env=env, check=True)
    cached = tmp_path / "other" / "models" / "mobilefacenet_68.onnx"
    assert cached.is_file()
    # The detector was not packed: running needs it, and the error says where it looked.
    proc = hub("run", "face_landmark_localization", "--input_path", PHOTO, env=env)
    assert proc.returncode != 0 and "ultraface_rfb_640.onnx" in proc.stderr
    hub("install", "ultra_light_fast_generic_face_detector_1mb_640", env={**env, "HUB_MODEL_MIRRORS": str(DATA.parent / "models")}, check=True)
    proc = hub("run", "face_landmark_localization", "--input_path", PHOTO, env=env, check=True)
    assert len(json.loads(proc.stdout)[0]["data"]) > 20


def test_grey_image_through_cli(tmp_path):
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), cv2.cvtColor(cv2.imread(str(DATA / "images" / "linzaer_13.jpg")), cv2.COLOR_BGR2GRAY))
    (entry,) = json.loads(hub("run", "face_landmark_localization", "--input_path", grey, check=True).stdout)
    assert len(entry["data"]) >= 1 and np.array(entry["data"]).shape[1:] == (68, 2)
