"""hand_pose_localization and palm_detection on real hand images (OneHand10K, CMU HandDB, group photos)."""
import sys

import cv2
import numpy as np
import pytest

import hub_core as hub
from conftest import DATA, REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from hand_accuracy import cmu_samples, coco_samples, match, metrics  # noqa: E402

GROUP = DATA / "images" / "cunjian_group24.jpg"      # one person's two hands, palms toward the camera
ZIDANE = DATA / "images" / "nanodet_zidane.jpg"      # one visible (pointing) hand; the other is hidden
NO_HANDS = [DATA / "images" / "nanodet_dog.jpg", DATA / "images" / "linzaer_1.jpg"]


@pytest.fixture(scope="module")
def hands():
    return hub.Module(name="hand_pose_localization")


def test_onehand10k_keypoints_close_to_annotations(hands):
    samples = coco_samples("onehand10k")
    entries = hands.keypoint_detection(paths=[s["path"] for s in samples])
    found = [match(s, e["instances"]) for s, e in zip(samples, entries)]
    assert all(p is not None for p in found)
    for s, p in zip(samples, found):  # mean error under 10% of the annotated box's longer side (seen: 3-6%)
        err = np.linalg.norm(p - s["keypoints"], axis=1)[s["visible"]].mean()
        assert err < 0.10 * np.max(s["box"][2:] - s["box"][:2]), s["path"]
    assert metrics(samples, found)["pck@0.2"] >= 0.95


def test_cmu_sample_detection_accuracy_and_handedness(hands):
    samples = cmu_samples()
    entries = hands.keypoint_detection(paths=[s["path"] for s in samples], batch_size=4)
    result = metrics(samples, [match(s, e["instances"]) for s, e in zip(samples, entries)])
    # MediaPipe Hands itself: 11/16 detected, PCK@0.2 90.5%, EPE 15 px on this sample
    assert result["detected"] >= 11 and result["pck@0.2"] >= 0.8 and result["epe_px"] < 22
    for s, e in zip(samples, entries):  # the crops are named by the signer's hand: *_r.jpg is a right hand
        inst = [i for i in e["instances"] if match(s, [i]) is not None]
        if s["path"].endswith("_r.jpg"):
            assert inst and inst[0]["handedness"] == "right" and inst[0]["handedness_score"] > 0.9, s["path"]
        elif s["path"].endswith("154_l.jpg"):
            assert inst and inst[0]["handedness"] == "left" and inst[0]["handedness_score"] > 0.9, s["path"]


def test_two_hands_and_mirrored_handedness(hands):
    image = cv2.imread(str(GROUP))
    entry = hands.keypoint_detection(images=[image])[0]
    assert len(entry["instances"]) == 2
    by_x = sorted(entry["instances"], key=lambda i: i["box"][0])
    # facing the camera: the hand on the image's left is the person's right hand
    assert [i["handedness"] for i in by_x] == ["right", "left"]
    assert all(abs(i["box"][1] - 535) < 40 for i in by_x)  # both at hip height (y ~ 535-590)
    # mirrored, each hand must turn into the other hand at the mirrored place, with the same points
    width = image.shape[1]
    mirrored = hub.Module(name="hand_pose_localization", max_hands=None).keypoint_detection(
        images=[image[:, ::-1].copy()])[0]["instances"]
    for hand in by_x:
        x1, y1, x2, y2 = hand["box"]
        twin = min(mirrored, key=lambda i: abs(i["box"][0] - (width - 1 - x2)) + abs(i["box"][1] - y1))
        assert abs(twin["box"][0] - (width - 1 - x2)) < 10
        assert twin["handedness"] != hand["handedness"] and twin["handedness_score"] > 0.9
        back = np.asarray(twin["keypoints"]) * [-1, 1] + [width - 1, 0]
        assert np.linalg.norm(np.asarray(hand["keypoints"]) - back, axis=1).mean() < 6


def test_max_hands_and_visible_pointing_hand(hands):
    one = hub.Module(name="hand_pose_localization", max_hands=1).keypoint_detection(paths=[str(GROUP)])[0]
    assert len(one["instances"]) == 1
    entry = hands.keypoint_detection(paths=[str(ZIDANE)])[0]
    assert len(entry["instances"]) == 1
    index_tip = np.asarray(entry["instances"][0]["keypoints"][8])
    assert np.linalg.norm(index_tip - [1150, 415]) < 30  # the pointing fingertip


def test_images_without_hands_give_empty_entries(hands):
    entries = hands.keypoint_detection(paths=[str(p) for p in NO_HANDS])
    assert [e["instances"] for e in entries] == [[], []] and [e["data"] for e in entries] == [[], []]
    palms = hub.Module(name="palm_detection").hand_detection(paths=[str(p) for p in NO_HANDS])
    assert [e["data"] for e in palms] == [[], []]


def test_palm_detection_protocol():
    palm = hub.Module(name="palm_detection")
    image = cv2.imread(str(GROUP))
    (dets,), (palms,) = palm.detect([image]), palm.detect_palms([image])
    assert len(dets) >= 2 and dets.shape[1] == 6 and dets.dtype == np.float32 and palm.labels == ["hand"]
    assert palms["keypoints"].shape == (len(dets), 7, 2) and np.allclose(palms["boxes"], dets[:, :4])
    assert (np.diff(dets[:, 4]) <= 0).all() and (dets[:, 4] > 0.5).all()
    inside = (palms["keypoints"] >= dets[:, None, :2] - 10) & (palms["keypoints"] <= dets[:, None, 2:4] + 10)
    assert inside.all()  # palm keypoints lie on the palm box
    entry = palm.hand_detection(images=[image], score_threshold=0.8)[0]
    assert [d["label"] for d in entry["data"]] == ["hand"] and entry["data"][0]["confidence"] > 0.8


def test_user_boxes_and_plugged_plain_detector(hands):
    samples = coco_samples("onehand10k")
    boxed = hands.keypoint_detection(paths=[s["path"] for s in samples], boxes=[[s["box"].tolist()] for s in samples])
    assert metrics(samples, [np.asarray(e["instances"][0]["keypoints"]) for e in boxed])["pck@0.2"] >= 0.95

    class PlainBoxes:  # a protocol detector without palm keypoints
        labels = ["hand"]

        def detect(self, images, use_gpu=False):
            return [np.array([[*s["box"], 0.9, 0]], np.float32) for s in samples[:len(images)]]

    plugged = hub.Module(name="hand_pose_localization")
    plugged.set_hand_detector_module(PlainBoxes())
    assert isinstance(plugged.get_hand_detector_module(), PlainBoxes)
    entry = plugged.keypoint_detection(paths=[samples[0]["path"]])[0]
    assert np.allclose(entry["instances"][0]["keypoints"], boxed[0]["instances"][0]["keypoints"], atol=1e-3)


def test_lite_models(hands):
    lite = hub.Module(name="hand_pose_localization", model="lite",
                      hand_detector_module=hub.Module(name="palm_detection", variant="lite"))
    samples = coco_samples("onehand10k")
    entries = lite.keypoint_detection(paths=[s["path"] for s in samples])
    assert metrics(samples, [match(s, e["instances"]) for s, e in zip(samples, entries)])["pck@0.2"] >= 0.9


def test_save_inference_model_round_trip(hands, tmp_path):
    lite_palm = hub.Module(name="palm_detection", variant="lite")
    module = hub.Module(name="hand_pose_localization", model="lite", max_hands=1, hand_detector_module=lite_palm)
    module.save_inference_model(str(tmp_path / "export"))
    assert (tmp_path / "export" / "hand_landmark" / "hand_landmark_lite.onnx").is_file()
    assert (tmp_path / "export" / "detector" / "palm_detection_lite.onnx").is_file()
    reloaded = hub.Module(directory=str(tmp_path / "export"))
    assert reloaded.model == "lite" and reloaded.max_hands == 1 and reloaded.detector.variant == "lite"
    paths = [str(GROUP), str(ZIDANE)]
    assert reloaded.keypoint_detection(paths=paths) == module.keypoint_detection(paths=paths)
