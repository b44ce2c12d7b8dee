"""`hub finetune` end to end on CPU (a few mouse frames: loss falls, module written, installed, predicting) and the
label readers it trains from (DeepLabCut CSV, COCO JSON). Needs the train extra (torch, onnx)."""
import json
import subprocess

import cv2
import numpy as np
import pytest

import hub_core as hub
from conftest import DATA, REPO, hub_cmd
from hub_core.finetune import data

MOUSE = DATA / "animal" / "dlc_openfield_mouse" / "examples" / "openfield-Pranav-2018-10-30" / "labeled-data" / "m4s1"
MOUSE_CSV = MOUSE / "CollectedData_Pranav.csv"
MOUSE_META = REPO / "modules" / "animal_pose_estimation" / "mouse_keypoints.json"
AP10K = DATA / "animal" / "mmpose_tests" / "ap10k"


def mouse_meta():
    return json.loads(MOUSE_META.read_text())


def test_deeplabcut_csv_parses():
    samples, images, fmt = data.load_samples(MOUSE_CSV, MOUSE, mouse_meta(), crop="image")
    assert fmt == "deeplabcut" and len(samples) == len(images) == 116
    first = samples[0]
    assert first["path"].endswith("img0000.png") and first["visible"].all()
    # CSV row 1: snout 21.521,265.428 ... tailbase 87.11,152.698
    assert first["keypoints"][0] == pytest.approx([21.521, 265.428], abs=1e-3)
    assert first["keypoints"][3] == pytest.approx([87.11, 152.698], abs=1e-3)
    assert first["box"] == [0.0, 0.0, 640.0, 480.0] and images[0].shape == (480, 640, 3)


def test_coco_json_parses_and_matches_the_csv(tmp_path):
    """The first mouse frames written as COCO keypoints: the same points come back, boxes from 'bbox'."""
    samples, _, _ = data.load_samples(MOUSE_CSV, MOUSE, mouse_meta())
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "mouse"}]}
    for i, s in enumerate(samples[:3]):
        coco["images"].append({"id": i + 1, "file_name": s["path"].split("/")[-1]})
        kp = np.concatenate([s["keypoints"], np.full((4, 1), 2.0)], 1)
        coco["annotations"].append({"id": i + 1, "image_id": i + 1, "keypoints": kp.ravel().tolist(),
                                    "bbox": [10, 20, 200, 100], "iscrowd": 0})
    ann = tmp_path / "mouse.json"
    ann.write_text(json.dumps(coco))
    parsed, _, fmt = data.load_samples(ann, MOUSE, mouse_meta(), crop="box")
    assert fmt == "coco" and len(parsed) == 3
    for a, b in zip(parsed, samples[:3]):
        np.testing.assert_allclose(a["keypoints"], b["keypoints"], atol=1e-3)
        assert a["box"] == [10.0, 20.0, 210.0, 120.0]
    ap10k, _, _ = data.load_samples(AP10K / "test_ap10k.json", AP10K,
                                    json.loads((REPO / "modules" / "animal_pose_estimation" / "keypoints.json").read_text()),
                                    crop="box")
    assert len(ap10k) == 2 and all(s["keypoints"].shape == (17, 2) for s in ap10k)


def test_split_is_seeded_and_by_image():
    samples, _, _ = data.load_samples(MOUSE_CSV, MOUSE, mouse_meta())
    train, val = data.split(samples, 20, seed=0)
    assert (len(train), len(val)) == (96, 20) and not set(train) & set(val)
    assert data.split(samples, 20, seed=0) == (train, val) and data.split(samples, 20, seed=1)[1] != val
    assert len(data.split(samples, 0.2, seed=0)[1]) == 23


def test_augmentation_moves_points_with_the_pixels():
    """After a random scale / rotation / flip the snout target sits where the warped image puts a marker."""
    samples, images, _ = data.load_samples(MOUSE_CSV, MOUSE, mouse_meta())
    marked = [np.zeros_like(images[0])]
    x, y = samples[0]["keypoints"][0]
    cv2.circle(marked[0], (int(round(x)), int(round(y))), 3, (255, 255, 255), -1)
    augment = data.Augment(mouse_meta()["flip_pairs"], 4, rotation=40, scale=0.3, flip=1.0, colour=0)
    batch, targets, weights, _ = data.make_batch([samples[0]], marked, [0], (256, 192), 1.0, 4,
                                                 augment=augment, rng=np.random.default_rng(3))
    image = batch[0].mean(0)
    peak = np.unravel_index(image.argmax(), image.shape)
    target = np.unravel_index(targets[0, 0].argmax(), targets[0, 0].shape)
    assert weights[0, 0] == 1
    assert abs(peak[0] / 4 - target[0]) <= 1.5 and abs(peak[1] / 4 - target[1]) <= 1.5
    # flipped: the left ear's target came from the right ear's label
    _, plain, _, _ = data.make_batch([samples[0]], marked, [0], (256, 192), 1.0, 4)
    assert not np.allclose(targets[0, 1], plain[0, 1])


def test_finetune_end_to_end(tmp_path):
    """2 epochs on 12 frames: the loss falls, the module folder installs and predicts 4 points per frame."""
    out = tmp_path / "mouse_quick"
    proc = subprocess.run(hub_cmd() + ["finetune", "--ann", str(MOUSE_CSV), "--images", str(MOUSE), "--keypoints",
                                       str(MOUSE_META), "--out", str(out), "--epochs", "2", "--limit", "12",
                                       "--val_split", "4", "--input_size", "256x192", "--quiet"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    losses = [float(line.split("train_loss ")[1].split()[0]) for line in proc.stdout.splitlines()
              if line.startswith("epoch ")]
    assert len(losses) == 2 and losses[1] < losses[0]
    for name in ("module.py", "keypoints.json", "README.md", "models/mouse_quick.onnx"):
        assert (out / name).is_file(), name
    card = (out / "README.md").read_text()
    assert "pck@0.1" in card.lower() or "PCK@0.1" in card
    assert (out / "models" / "mouse_quick.onnx").stat().st_size < 10e6
    proc = subprocess.run(hub_cmd() + ["install", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    module = hub.Module(name="mouse_quick")
    assert module.meta["keypoints"] == ["snout", "leftear", "rightear", "tailbase"]
    sha = module.model_files["keypoint"]["sha256"]
    assert sha in card
    results = module.keypoint_detection(paths=[str(MOUSE / "img0100.png"), str(MOUSE / "img0110.png")])
    for r in results:
        assert len(r["instances"]) == 1 and r["instances"][0]["label"] == "animal"
        kp = np.asarray(r["data"][0])
        assert kp.shape == (4, 2) and np.all(kp >= -1) and np.all(kp <= [641, 481])


def test_finetune_reports_bad_input(tmp_path):
    proc = subprocess.run(hub_cmd() + ["finetune", "--ann", str(tmp_path / "none.csv"), "--keypoints",
                                       str(MOUSE_META), "--out", str(tmp_path / "m")], capture_output=True, text=True)
    assert proc.returncode == 1 and "none.csv" in proc.stderr
    proc = subprocess.run(hub_cmd() + ["finetune", "--ann", str(MOUSE_CSV), "--keypoints", str(MOUSE_META),
                                       "--out", str(tmp_path / "m"), "--input_size", "250x190"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "multiples of 32" in proc.stderr
