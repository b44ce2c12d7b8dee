"""The `hub` command: run, list, show, install (name / folder / .tar.gz), download, uninstall."""
import json
import os
import shutil
import subprocess
import tarfile

import cv2
import numpy as np
import pytest

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
    lines = proc.stdout.strip().splitlines()  # the drawings are the output: one summary line per input
    assert [line.split(": ")[0] for line in lines] == [str(folder / "a.jpg"), str(folder / "b.jpg")]
    assert lines[0].endswith(f": 0 instances -> {out / 'a.jpg'}") and int(lines[1].split(": ")[1].split()[0]) > 20
    assert proc.stderr.count("readme.txt") == 1
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


def test_grey_image_through_cli(tmp_path):
    grey = tmp_path / "grey.png"
    cv2.imwrite(str(grey), cv2.cvtColor(cv2.imread(str(DATA / "images" / "linzaer_13.jpg")), cv2.COLOR_BGR2GRAY))
    (entry,) = json.loads(hub("run", "face_landmark_localization", "--input_path", grey, check=True).stdout)
    assert len(entry["data"]) >= 1 and np.array(entry["data"]).shape[1:] == (68, 2)


def test_eval_and_benchmark_help():
    for command in ("eval", "benchmark"):
        proc = hub(command, "--help", check=True)
        assert proc.stdout.startswith(f"usage: hub {command}") and "--batch_size" in proc.stdout


def test_input_as_positional_argument_and_aliases_everywhere():
    (entry,) = json.loads(hub("run", "face", DATA / "images" / "linzaer_13.jpg", check=True).stdout)
    assert len(entry["data"]) >= 2
    assert json.loads(hub("show", "face", check=True).stdout)["name"] == "face_landmark_localization"
    proc = hub("eval", "face", "--ann", DATA / "face" / "300w_afw" / "no_such.json")
    assert proc.returncode != 0 and "unknown module" not in proc.stderr and "no_such.json" in proc.stderr


@pytest.mark.parametrize("args", [["run", "face", PHOTO, "--batch_size", "0"],
                                  ["run", "face", PHOTO, "--det_every", "0"],
                                  ["run", "face", PHOTO, "--radius", "-1"],
                                  ["run", "face", PHOTO, "--thickness", "-2"],
                                  ["serving", "start", "-m", "face_landmark_localization", "-p", "-5"],
                                  ["serving", "stop", "-p", "70000"]])
def test_numbers_are_checked_in_one_line(args):
    proc = hub(*args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr


def test_visualization_without_output_dir_uses_the_module_folder(tmp_path):
    proc = subprocess.run(hub_cmd() + ["run", "face", str(PHOTO), "--visualization"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    drawn = tmp_path / "face_landmark_output" / PHOTO.name
    assert drawn.is_file() and "face_landmark_output" in proc.stderr
    # Results went to a file: stdout says one line per input, not the whole JSON.
    assert proc.stdout.strip().splitlines() == [f"{PHOTO}: {_count_faces(proc)} instances -> "
                                                f"face_landmark_output/{PHOTO.name}"]


def _count_faces(proc):
    return int(proc.stdout.split(": ")[1].split(" ")[0])


def test_summary_line_per_input_when_writing_files(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("linzaer_13.jpg", "nanodet_dog.jpg"):
        shutil.copy(DATA / "images" / name, folder / name)
    (folder / "notes.txt").write_text("not an image")
    proc = hub("run", "face", folder, "--output_dir", tmp_path / "out", "--save_predictions", check=True)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(folder / "linzaer_13.jpg")) and "instances" in lines[0]
    assert proc.stderr.count("notes.txt") == 1 and "Warning" not in proc.stderr


def test_output_piped_into_head_ends_quietly():
    for command in ("list --json", f"run face {PHOTO}"):
        cmd = " ".join(hub_cmd()) + f" {command} | head -1"
        proc = subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=REPO, timeout=300)
        assert proc.stdout.strip() in ("[", "[\n") and "Traceback" not in proc.stderr and "Broken" not in proc.stderr


def test_unknown_module_suggests_names_and_errors_are_one_line():
    proc = hub("run", "face_landmark_localisation", PHOTO)
    assert proc.returncode == 1 and "did you mean face_landmark_localization" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = hub("--debug", "run", "face_landmark_localisation", PHOTO)
    assert "Traceback" in proc.stderr and "ModuleError" in proc.stderr


def test_errors_share_one_base_class(tmp_path):
    import hub_core as hub_api
    from hub_core import store
    from hub_core.module import ModuleError
    from hub_core.evaluate import AnnotationError
    for error in (hub_api.ImageError, store.ModelNotFound, store.ChecksumError, ModuleError, AnnotationError):
        assert issubclass(error, hub_api.HubError), error
    with pytest.raises(hub_api.HubError, match="did you mean"):
        hub_api.Module(name="human_pose_estimatoin")
    with pytest.raises(hub_api.HubError, match="no_such.jpg"):
        hub_api.Module(name="face").keypoint_detection(paths=[str(tmp_path / "no_such.jpg")], strict=True)


def test_list_and_show_read_metadata_without_running_module_code(tmp_path):
    folder = tmp_path / "home" / "modules" / "marker_module"
    folder.mkdir(parents=True)
    meta = json.loads((REPO / "modules" / "whole_image_detector" / "module.json").read_text())
    (folder / "module.json").write_text(json.dumps({**meta, "name": "marker_module", "aliases": ["marker"]}))
    marker = tmp_path / "imported"
    (folder / "module.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    env = {"HUB_HOME": str(tmp_path / "home")}
    listed = json.loads(hub("list", "--json", env=env, check=True).stdout)
    assert {"name": "marker_module", "version": meta["version"], "type": meta["type"], "source": "installed"} in listed
    assert json.loads(hub("show", "marker", env=env, check=True).stdout)["name"] == "marker_module"
    assert not marker.exists()


def test_checksum_prints_a_model_files_entry():
    model = DATA.parent / "models" / "pfld_68.onnx"
    spec = json.loads(hub("checksum", model, check=True).stdout)["pfld_68"]
    meta = json.loads((REPO / "modules" / "face_landmark_localization" / "module.json").read_text())
    expected = meta["model_files"]["pfld_68"]
    assert (spec["file"], spec["sha256"], spec["size"]) == (expected["file"], expected["sha256"], expected["size"])
