"""Accuracy modes: each mode runs the recipe it documents; flip averaging, the face's second pass,
OKS-NMS of duplicate poses and hand world landmarks, on real images."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import hub_core as hub
from hub_core import modes
from hub_core.module import find
from hub_core.oks_nms import oks_nms
from hub_core.refine import flip_index
from conftest import DATA

FACES = DATA / "images" / "linzaer_13.jpg"
PEOPLE = DATA / "images" / "nanodet_zidane.jpg"
OPEN_HAND = DATA / "hand" / "mmpose_tests" / "onehand10k" / "1402.jpg"
KEYPOINT_MODULES = ["face_landmark_localization", "hand_pose_localization", "human_pose_estimation",
                    "animal_pose_estimation"]


class ModelSpy:
    """The real ONNX model of a module's network, with the input batch of every run kept (NCHW)."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __call__(self, batch, *args, **kwargs):
        self.calls.append(batch.copy())
        return self.model(batch, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.model, name)


def spy_on(module):
    net = module.net()
    net.model = ModelSpy(net.model)
    return net.model


@pytest.mark.parametrize("name", KEYPOINT_MODULES)
def test_every_keypoint_module_has_three_documented_modes(name):
    table = modes.recipes(find(name))
    assert table["default"] == "balanced" and list(table["modes"]) == list(modes.MODES)
    for recipe in table["modes"].values():
        assert recipe["about"] and isinstance(recipe["options"], dict)
    for mode in modes.MODES:
        assert hub.Module(name=name, mode=mode).mode == mode
    assert hub.Module(name=name).mode == "balanced"


def test_unknown_mode_and_modeless_module_are_clear_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        hub.Module(name="face_landmark_localization", mode="turbo")
    with pytest.raises(ValueError, match="has no modes"):
        hub.Module(name="palm_detection", mode="fast")


def test_face_modes_run_their_recipes():
    image = cv2.imread(str(FACES))
    fast = hub.Module(name="face_landmark_localization", mode="fast")
    assert fast.detector.name.endswith("_320") and not fast.flip and fast.refine_passes == 0
    spy = spy_on(fast)
    (entry,) = fast.keypoint_detection(images=[image])
    faces = len(entry["instances"])
    assert faces >= 2 and [len(c) for c in spy.calls] == [faces]

    balanced = hub.Module(name="face_landmark_localization", mode="balanced")
    spy = spy_on(balanced)
    (entry,) = balanced.keypoint_detection(images=[image])
    n = len(entry["instances"])
    (crops,) = spy.calls  # one batch: every face and its mirror image
    assert len(crops) == 2 * n and np.array_equal(crops[n:], crops[:n, ..., ::-1])

    accurate = hub.Module(name="face_landmark_localization", mode="accurate")
    spy = spy_on(accurate)
    (entry,) = accurate.keypoint_detection(images=[image])
    first, second = spy.calls  # a second pass on crops rebuilt from the first pass's landmarks
    assert len(first) == len(second) == 2 * len(entry["instances"])
    assert not np.array_equal(first, second)
    assert np.array_equal(second[n:], second[:n, ..., ::-1])

    overridden = hub.Module(name="face_landmark_localization", mode="accurate", flip=False)
    assert overridden.refine_passes == 1 and not overridden.flip  # explicit options win over the mode


def test_hand_modes_run_their_recipes():
    image = cv2.imread(str(OPEN_HAND))
    runs = {}
    for mode in modes.MODES:
        hands = hub.Module(name="hand_pose_localization", mode=mode)
        spy = spy_on(hands)
        (entry,) = hands.keypoint_detection(images=[image])
        assert len(entry["instances"]) == 1
        runs[mode] = (hands, spy.calls)
    fast, balanced, accurate = (runs[m][0] for m in modes.MODES)
    assert fast.model == "lite" and fast.detector.variant == "lite"
    assert balanced.model == accurate.model == "full" and balanced.detector.variant == accurate.detector.variant == "full"
    assert "lite" in Path(fast.net().model.path).name and "full" in Path(balanced.net().model.path).name
    assert [len(c) for c in runs["fast"][1]] == [len(c) for c in runs["balanced"][1]] == [1]  # one pass
    first, second = runs["accurate"][1]  # then the ROI the first pass's landmarks define
    assert len(first) == len(second) == 1 and not np.array_equal(first, second)


def test_face_flip_average_of_a_mirrored_image_is_the_mirrored_landmarks():
    image = cv2.imread(str(FACES))
    width = image.shape[1]
    mirrored_image = np.ascontiguousarray(image[:, ::-1])
    index = flip_index(json.loads((find("face_landmark_localization") / "keypoints.json").read_text())["flip_pairs"],
                       68)
    errors = {}
    for flip in (True, False):
        face = hub.Module(name="face_landmark_localization", mode="balanced", flip=flip)
        boxes = [inst["box"] for inst in face.keypoint_detection(images=[image])[0]["instances"]]
        mirrored_boxes = [[width - b[2], b[1], width - b[0], b[3]] for b in boxes]
        (plain,) = face.keypoint_detection(images=[image], boxes=[boxes])
        (mirrored,) = face.keypoint_detection(images=[mirrored_image], boxes=[mirrored_boxes])
        assert len(plain["instances"]) == len(mirrored["instances"]) >= 2
        worst = 0.0
        for a, b in zip(plain["instances"], mirrored["instances"]):
            back = np.array(b["keypoints"])[index]
            back[:, 0] = width - back[:, 0]
            worst = max(worst, np.abs(back - np.array(a["keypoints"])).max())
        errors[flip] = worst
    assert errors[True] < 1.0, errors
    assert errors[True] < errors[False], errors  # without the flip the network's own asymmetry shows


def test_oks_nms_drops_a_duplicated_pose_and_keeps_distinct_people():
    image = cv2.imread(str(PEOPLE))
    body = hub.Module(name="human_pose_estimation", mode="balanced")
    assert body.oks_nms_threshold is not None
    people = body.keypoint_detection(images=[image])[0]["instances"]
    assert len(people) >= 2
    boxes = [p["box"] + [p["box_score"]] for p in people]
    x1, y1, x2, y2, s = boxes[0]
    duplicate = [x1 + 2, y1 - 2, x2 + 2, y2 + 1, s * 0.9]  # a second detector box on the same person
    (entry,) = body.keypoint_detection(images=[image], boxes=[boxes + [duplicate]])
    (without,) = hub.Module(name="human_pose_estimation", mode="balanced", oks_nms_threshold=None
                            ).keypoint_detection(images=[image], boxes=[boxes + [duplicate]])
    assert len(without["instances"]) == len(boxes) + 1
    assert len(entry["instances"]) == len(boxes)
    assert [i["box"] for i in entry["instances"]] == [i["box"] for i in without["instances"][:len(boxes)]]


def test_oks_nms_on_poses():
    pose = np.array([[10, 10], [20, 10], [15, 30]], np.float64)
    poses = np.stack([pose, pose + 0.5, pose + 200])
    keep = oks_nms(poses, [0.8, 0.9, 0.7], [400, 400, 400], [0.05, 0.05, 0.05], 0.9)
    assert keep.tolist() == [1, 2]  # the higher-scored twin stays, the far pose is another person


def test_body_accurate_mode_runs_the_flip_test():
    image = cv2.imread(str(PEOPLE))
    accurate = hub.Module(name="human_pose_estimation", mode="accurate")
    assert accurate.flip_test
    spy = spy_on(accurate)
    (entry,) = accurate.keypoint_detection(images=[image])
    n = len(entry["instances"])
    (batch,) = spy.calls  # every person and its mirror image in one run
    assert n >= 1 and len(batch) == 2 * n and np.array_equal(batch[n:], batch[:n, ..., ::-1])
    fast = hub.Module(name="human_pose_estimation", mode="fast")
    spy = spy_on(fast)
    (entry,) = fast.keypoint_detection(images=[image])
    assert not fast.flip_test and [len(b) for b in spy.calls] == [len(entry["instances"])]


def test_animal_accurate_mode_flip_averages_with_the_meta_flip_pairs():
    frame = next((DATA / "animal" / "dlc_openfield_mouse").rglob("img0005.png"))
    accurate = hub.Module(name="animal_pose_estimation", mode="accurate")
    assert accurate.flip_test and accurate.meta["flip_pairs"] == [[1, 2]]
    spy = spy_on(accurate)
    (entry,) = accurate.keypoint_detection(paths=[str(frame)])
    (batch,) = spy.calls
    assert len(entry["instances"]) == 1 and len(batch) == 2 and np.array_equal(batch[1], batch[0, ..., ::-1])
    (balanced,) = hub.Module(name="animal_pose_estimation").keypoint_detection(paths=[str(frame)])
    moved = np.abs(np.array(entry["instances"][0]["keypoints"]) - balanced["instances"][0]["keypoints"]).max()
    assert 0 < moved < 10  # the flip refines the points, it does not move them to another place


def test_hand_world_landmarks_are_hand_sized_and_in_the_schema():
    hands = hub.Module(name="hand_pose_localization")
    (entry,) = hands.keypoint_detection(paths=[str(OPEN_HAND)])
    (hand,) = entry["instances"]
    world = np.array(hand["world_keypoints"])
    assert world.shape == (21, 3) and len(hand["keypoint_depths"]) == 21
    assert 0.12 < np.linalg.norm(world[12] - world[0]) < 0.25  # wrist to middle fingertip, an open hand
    assert np.abs(world.mean(0)).max() < 0.05  # origin near the hand's centre
    assert hand["keypoint_depths"][0] == 0.0  # depths are relative to the wrist
    # x, y follow the image's axes: the wrist -> middle fingertip direction matches the image keypoints'
    points = np.array(hand["keypoints"])
    image_dir, world_dir = points[12] - points[0], world[12, :2] - world[0, :2]
    assert image_dir @ world_dir / np.linalg.norm(image_dir) / np.linalg.norm(world_dir) > 0.8
    assert hub.RESULT_SCHEMA_VERSION == "1.1"


def test_world_view_is_drawn_on_request():
    from hub_core import draw
    image = cv2.imread(str(OPEN_HAND))
    hands = hub.Module(name="hand_pose_localization")
    (entry,) = hands.keypoint_detection(images=[image])
    plain = draw.draw(image, entry, hands.meta)
    with_view = draw.draw(image, entry, hands.meta, world_view=True)
    inset = np.abs(with_view[:160, :160].astype(int) - plain[:160, :160]).sum(-1) > 0
    assert inset.mean() > 0.9 and np.array_equal(with_view[170:], plain[170:])


def test_cli_mode_in_show_run_and_serving(capsys):
    from hub_core.cli import main
    from serving.launcher import build_parser, resolve_settings
    assert main(["show", "face_landmark_localization"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["mode"]["default"] == "balanced" and set(shown["mode"]["modes"]) == set(modes.MODES)
    assert main(["run", "face", "--input_path", str(FACES), "--mode", "fast", "--compact"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert len(entry["instances"]) >= 2
    args = build_parser().parse_args(["start", "-m", "human_pose_estimation", "yolox_nano_coco", "--mode", "fast"])
    _, info = resolve_settings(args)
    assert info["human_pose_estimation"]["init_args"] == {"mode": "fast"} and "init_args" not in info["yolox_nano_coco"]


def test_hub_eval_and_benchmark_take_a_mode(tmp_path):
    from hub_core import bench, evaluate
    ann = DATA / "hand" / "mmpose_tests" / "onehand10k" / "test_onehand10k.json"
    assert evaluate.main(["hand", "--ann", str(ann), "--mode", "fast", "--out", str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["mode"] == "fast" and report["matched"] >= 3 and report["pck@0.2"] > 0.8
    assert bench.main(["hand_pose_localization", "--mode", "accurate", "--images", str(ann.parent), "--max_images", "2",
                       "--repeat", "1", "--out", str(tmp_path / "bench.json")]) == 0
    assert json.loads((tmp_path / "bench.json").read_text())["mode"] == "accurate"
