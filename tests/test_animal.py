"""animal_pose_estimation: SimCC / heatmap decoding against hand-built ONNX graphs with known outputs, the
YOLOX animal detector on real animal photos, the whole-image detector, and the default mouse model on
held-out labelled frames."""
import json

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hub_core as hub
from conftest import DATA, REPO
from hub_core.finetune import data
from hub_core.finetune.runtime import ANIMAL_CLASSES
from hub_core.nets.simcc import decode_simcc
from hub_core.nets.topdown_pose import output_kind

MOUSE = DATA / "animal" / "dlc_openfield_mouse" / "examples" / "openfield-Pranav-2018-10-30" / "labeled-data" / "m4s1"
TESTS = DATA / "animal" / "mmpose_tests"


def constant_model(path, outputs, height=64, width=48):
    """An ONNX graph with input 'image' (N, 3, H, W) whose outputs are the given arrays (leading dim 1)
    broadcast over the batch: out = mean(image) * 0 + constant."""
    nodes = [helper.make_node("ReduceMean", ["image"], ["m"], axes=[1, 2, 3], keepdims=1),
             helper.make_node("Mul", ["m", "zero"], ["z"])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for i, value in enumerate(outputs):
        value = np.asarray(value, np.float32)
        nodes += [helper.make_node("Reshape", ["z", f"shape{i}"], [f"z{i}"]),
                  helper.make_node("Add", [f"z{i}", f"const{i}"], [f"out{i}"])]
        inits += [numpy_helper.from_array(np.array([-1] + [1] * (value.ndim - 1), np.int64), f"shape{i}"),
                  numpy_helper.from_array(value, f"const{i}")]
        outs.append(helper.make_tensor_value_info(f"out{i}", TensorProto.FLOAT, ["N"] + list(value.shape[1:])))
    graph = helper.make_graph(nodes, "constant", [helper.make_tensor_value_info(
        "image", TensorProto.FLOAT, ["N", 3, height, width])], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def meta(k):
    return {"dataset": "test animal", "keypoints": [f"p{i}" for i in range(k)], "skeleton": [], "flip_pairs": []}


def blank(height=64, width=48):
    return np.zeros((height, width, 3), np.uint8)


def test_simcc_model_decodes_to_known_points(tmp_path):
    """SimCC split ratio 2 on a 48x64 input: bins (20, 40), (51, 100), (95, 127) -> pixels (10, 20), (25.5, 50),
    (47.5, 63.5); score = the lower of the two maxima. Whole-image box at padding 1: the crop is the image."""
    sx, sy = np.zeros((1, 3, 96)), np.zeros((1, 3, 128))
    for k, (bx, by) in enumerate([(20, 40), (51, 100), (95, 127)]):
        sx[0, k, bx], sy[0, k, by] = 0.9, 0.6 + 0.1 * k
    path = constant_model(tmp_path / "simcc.onnx", [sx, sy])
    module = hub.Module(name="animal_pose_estimation", keypoint_model=path, keypoint_meta=meta(3), padding=1.0)
    assert module.net().kind == "simcc"
    result = module.keypoint_detection(images=[blank(), blank()], boxes=[[[0, 0, 48, 64]], [[0, 0, 48, 64]]])
    for r in result:
        inst = r["instances"][0]
        np.testing.assert_allclose(inst["keypoints"], [[10, 20], [25.5, 50], [47.5, 63.5]], atol=1e-3)
        np.testing.assert_allclose(inst["keypoint_scores"], [0.6, 0.7, 0.8], atol=1e-4)
    # a box twice the crop's size, offset by (100, 50): points scale x2 and shift
    moved = module.keypoint_detection(images=[np.zeros((300, 300, 3), np.uint8)], boxes=[[[100, 50, 196, 178]]])
    np.testing.assert_allclose(moved[0]["data"][0], [[120, 90], [151, 150], [195, 177]], atol=1e-3)
    points, scores = decode_simcc(sx, sy, 2.0)
    np.testing.assert_allclose(points[0], [[10, 20], [25.5, 50], [47.5, 63.5]])


def test_heatmap_model_decodes_to_known_points(tmp_path):
    """Gaussian heatmaps (stride 4, 16x12) centred at sub-cell positions away from the border: DARK recovers the
    centres, "offset" gives argmax + 0.25 cell toward the higher neighbour."""
    centres = np.array([[5.3, 7.6], [6.0, 9.0]])
    ys, xs = np.mgrid[0:16, 0:12]
    maps = np.stack([np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * 2.0 ** 2)) for cx, cy in centres])[None]
    path = constant_model(tmp_path / "heatmap.onnx", [maps])
    module = hub.Module(name="animal_pose_estimation", keypoint_model=path, keypoint_meta=meta(2), padding=1.0)
    assert module.net().kind == "heatmap"
    dark = module.keypoint_detection(images=[blank()], boxes=[[[0, 0, 48, 64]]])[0]["instances"][0]
    np.testing.assert_allclose(dark["keypoints"], centres * 4, atol=0.2)
    np.testing.assert_allclose(dark["keypoint_scores"], maps.reshape(2, -1).max(1), atol=1e-4)
    offset = module.keypoint_detection(images=[blank()], boxes=[[[0, 0, 48, 64]]], decode="offset")[0]
    np.testing.assert_allclose(offset["data"][0], [[5.25 * 4, 7.75 * 4], [6 * 4, 9 * 4]], atol=1e-4)


def test_output_kind_from_shapes():
    assert output_kind([[1, 17, 64, 48], [1, 17]]) == ("heatmap", 0)
    assert output_kind([["N", 17, 384], ["N", 17, 512]]) == ("simcc", (0, 1))
    with pytest.raises(ValueError, match="SimCC"):
        output_kind([[1, 17, 2]])


def test_keypoint_model_must_match_the_meta(tmp_path):
    path = constant_model(tmp_path / "three.onnx", [np.zeros((1, 3, 16, 12))])
    with pytest.raises(ValueError, match="3 keypoints"):
        hub.Module(name="animal_pose_estimation", keypoint_model=path).keypoint_detection(images=[blank()])


def test_whole_image_detector():
    det = hub.Module(name="whole_image_detector")
    boxes = det.detect([np.zeros((480, 640, 3), np.uint8), np.zeros((10, 20, 3), np.uint8)])
    np.testing.assert_array_equal(boxes[0], [[0, 0, 640, 480, 1, 0]])
    np.testing.assert_array_equal(boxes[1], [[0, 0, 20, 10, 1, 0]])
    assert hub.Module(name="whole_image_detector", label="object").detect([np.zeros((4, 4, 3), np.uint8)])[0][0, 5] == 1


def iou(a, b):
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


def test_yolox_animal_detector_finds_the_dog_and_the_animals():
    module = hub.Module(name="animal_pose_estimation")
    assert module.get_animal_detector_module().name == "whole_image_detector"
    module.set_animal_detector_module("yolox_nano_coco")
    det = module.get_animal_detector_module()
    dog = det.detect([cv2.imread(str(DATA / "images" / "nanodet_dog.jpg"))])[0]
    assert det.labels[int(dog[dog[:, 4].argmax(), 5])] == "dog"
    assert all(det.labels[int(c)] in module.animal_classes for c in dog[:, 5])
    for folder, name in [("ap10k", "ap10k"), ("animalpose", "animalpose")]:
        coco = json.loads((TESTS / folder / f"test_{name}.json").read_text())
        for image in coco["images"]:
            found = det.detect([cv2.imread(str(TESTS / folder / image["file_name"]))])[0]
            x, y, w, h = next(a["bbox"] for a in coco["annotations"] if a["image_id"] == image["id"])
            assert max(iou(f[:4], [x, y, x + w, y + h]) for f in found) > 0.7, image["file_name"]


def test_default_mouse_model_on_held_out_frames(tmp_path):
    """Mean error below 12 px (PCK@0.1 of a ~100 px mouse) on frames outside the model's training split."""
    meta = json.loads((REPO / "modules" / "animal_pose_estimation" / "mouse_keypoints.json").read_text())
    samples, _, _ = data.load_samples(MOUSE / "CollectedData_Pranav.csv", MOUSE, meta)
    # the seeded 20-frame test split of benchmarks/finetune_mouse.py: the default model never trained on it
    held_out = sorted(samples[i]["path"].split("/")[-1] for i in data.split(samples, 20, seed=0)[1])[::4]
    rows = {line.split(",")[0].split("/")[-1]: np.array(line.split(",")[1:], float).reshape(4, 2)
            for line in (MOUSE / "CollectedData_Pranav.csv").read_text().splitlines()[3:]}
    module = hub.Module(name="animal_pose_estimation")
    assert module.meta["keypoints"] == ["snout", "leftear", "rightear", "tailbase"]
    results = module.keypoint_detection(paths=[str(MOUSE / n) for n in held_out], visualization=True,
                                        output_dir=str(tmp_path))
    errors = np.array([np.linalg.norm(np.asarray(r["data"][0]) - rows[n], axis=1) for r, n in zip(results, held_out)])
    assert errors.mean() < 12 and np.median(errors) < 10, errors.round(1)
    assert all(cv2.imread(r["save_path"]).shape == (480, 640, 3) for r in results)
    # save_inference_model -> hub.Module(directory=...) reloads the same model and predicts the same points
    module.save_inference_model(str(tmp_path / "exported"))
    again = hub.Module(directory=str(tmp_path / "exported")).keypoint_detection(paths=[str(MOUSE / held_out[0])])
    np.testing.assert_allclose(again[0]["data"], results[0]["data"], atol=1e-3)


def test_default_model_is_announced(tmp_path):
    """hub show, hub run --show_alias and a first-use line on stderr say the default is a top-view mouse model."""
    import subprocess
    from conftest import hub_cmd
    shown = json.loads(subprocess.run(hub_cmd() + ["show", "animal_pose_estimation"], capture_output=True, text=True,
                                      timeout=60).stdout)
    assert "mouse" in shown["notice"] and "keypoint_model=PATH" in shown["notice"]
    aliases = subprocess.run(hub_cmd() + ["run", "--show_alias"], capture_output=True, text=True, timeout=60).stdout
    assert "mouse" in next(line for line in aliases.splitlines() if line.startswith("animal"))
    run = subprocess.run(hub_cmd() + ["run", "animal", "--input_path", str(DATA / "images" / "nanodet_dog.jpg"),
                                      "--quiet"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stderr.count("top-view lab mouse") == 1, run.stderr


def test_ap10k_model_gets_the_animal_detector(tmp_path):
    """An AP-10K keypoint model is for animals in photos: YOLOX animal boxes, not the whole frame; a model with
    its own keypoint_meta (a single-animal set-up) keeps the whole frame."""
    path = constant_model(tmp_path / "ap10k.onnx", [np.zeros((1, 17, 16, 12))])
    ap10k = hub.Module(name="animal_pose_estimation", keypoint_model=path)
    det = ap10k.get_animal_detector_module()
    assert det.name == "yolox_nano_coco" and set(det.labels[int(c)] for c in det.detect(
        [cv2.imread(str(DATA / "images" / "nanodet_dog.jpg"))])[0][:, 5]) <= set(ANIMAL_CLASSES)
    own = constant_model(tmp_path / "own.onnx", [np.zeros((1, 2, 16, 12))])
    assert hub.Module(name="animal_pose_estimation", keypoint_model=own,
                      keypoint_meta=meta(2)).get_animal_detector_module().name == "whole_image_detector"
