"""face_landmark_localization and the UltraLight detectors on real 300-W / AFW faces."""
import json

import cv2
import numpy as np
import pytest

import hub_core as hub
from hub_core.geometry import iou_one_to_many
from conftest import DATA

AFW = DATA / "face" / "300w_afw"
GROUP = DATA / "images" / "linzaer_1.jpg"
NO_FACE = DATA / "images" / "nanodet_dog.jpg"


@pytest.fixture(scope="module")
def face():
    return hub.Module(name="face_landmark_localization")


@pytest.fixture(scope="module")
def afw_subset():
    ann = json.loads((AFW / "annotations_68pt_coco.json").read_text())
    faces = {}
    for a in ann["annotations"]:
        faces.setdefault(a["image_id"], []).append(np.array(a["keypoints"], np.float64).reshape(68, 3)[:, :2])
    images = ann["images"][:60]
    return [(str(AFW / im["file_name"]), faces[im["id"]]) for im in images]


def match_errors(entry, truths):
    """Per annotated face: (mean point error px, inter-ocular px) of the detection over it, or None."""
    boxes = np.array([i["box"] for i in entry["instances"]]).reshape(-1, 4)
    out = []
    for gt in truths:
        gt_box = np.r_[gt.min(0), gt.max(0)]
        if len(boxes) == 0 or iou_one_to_many(gt_box, boxes).max() < 0.3:
            out.append(None)
            continue
        pred = np.array(entry["data"][int(iou_one_to_many(gt_box, boxes).argmax())])
        out.append((np.linalg.norm(pred - gt, axis=1).mean(), np.linalg.norm(gt[36] - gt[45])))
    return out


def test_landmarks_close_to_300w_annotation(face, afw_subset):
    results = face.keypoint_detection(paths=[p for p, _ in afw_subset], batch_size=4)
    assert len(results) == len(afw_subset)
    errors = [e for r, (_, gt) in zip(results, afw_subset) for e in match_errors(r, gt)]
    found = [e for e in errors if e is not None]
    assert len(found) >= 0.95 * len(errors)
    # Stated bound: mean point error within 8% of the inter-ocular distance (at least 3 px) on 90% of faces.
    within = [err <= max(3.0, 0.08 * iod) for err, iod in found]
    assert np.mean(within) >= 0.90, np.mean(within)
    nme = np.mean([err / iod for err, iod in found])
    assert nme < 0.06, nme


def test_result_schema_and_paddlehub_fields(face):
    (entry,) = face.keypoint_detection(paths=[str(DATA / "images" / "linzaer_13.jpg")])
    assert set(entry) >= {"data", "instances", "path", "image_size"}
    h, w = cv2.imread(str(DATA / "images" / "linzaer_13.jpg")).shape[:2]
    assert entry["image_size"] == {"width": w, "height": h}
    assert len(entry["data"]) >= 1
    for points, inst in zip(entry["data"], entry["instances"]):
        assert len(points) == 68 and all(len(p) == 2 for p in points)
        assert inst["keypoints"] == points and inst["label"] == "face" and 0.5 < inst["box_score"] <= 1
        x1, y1, x2, y2 = inst["box"]
        pts = np.array(points)
        assert x1 - 0.3 * (x2 - x1) < pts[:, 0].mean() < x2 + 0.3 * (x2 - x1)
    json.dumps(entry)  # plain JSON types only


def test_no_face_gives_empty_entry_in_place(face):
    images = [cv2.imread(str(GROUP)), cv2.imread(str(NO_FACE)), cv2.imread(str(GROUP))]
    results = face.keypoint_detection(images=images, batch_size=3)
    assert [len(r["data"]) > 10 for r in results] == [True, False, True]
    assert results[1]["data"] == [] and results[1]["instances"] == [] and "error" not in results[1]
    assert results[0]["data"] == results[2]["data"]


def test_batch_size_does_not_change_results(face, afw_subset):
    paths = [p for p, _ in afw_subset[:7]]
    one = face.keypoint_detection(paths=paths, batch_size=1)
    many = face.keypoint_detection(paths=paths, batch_size=4)
    for a, b in zip(one, many):
        assert a["path"] == b["path"]
        np.testing.assert_allclose(np.array(a["data"]).reshape(-1), np.array(b["data"]).reshape(-1), atol=1e-3)


def test_swap_to_320_detector(afw_subset):
    m = hub.Module(name="face_landmark_localization")
    det = hub.Module(name="ultra_light_fast_generic_face_detector_1mb_320")
    m.set_face_detector_module(det)
    assert m.get_face_detector_module() is det
    paths, truths = zip(*afw_subset[:20])
    results = m.keypoint_detection(paths=list(paths))
    found = [e for r, gt in zip(results, truths) for e in match_errors(r, gt) if e is not None]
    assert len(found) >= 15
    assert np.mean([err <= max(3.0, 0.08 * iod) for err, iod in found]) >= 0.85


def test_pfld_landmark_model(afw_subset):
    m = hub.Module(name="face_landmark_localization", landmark_model="pfld_68")
    paths, truths = zip(*afw_subset[:20])
    found = [e for r, gt in zip(m.keypoint_detection(paths=list(paths)), truths) for e in match_errors(r, gt) if e]
    assert np.mean([err / iod for err, iod in found]) < 0.07


def test_detector_modules_paddlehub_api():
    for size in (640, 320):
        det = hub.Module(name=f"ultra_light_fast_generic_face_detector_1mb_{size}")
        results = det.face_detection(paths=[str(GROUP), str(NO_FACE)], confs_threshold=0.6, iou_threshold=0.5)
        assert len(results) == 2 and results[1]["data"] == []
        boxes = results[0]["data"]
        assert len(boxes) >= (40 if size == 640 else 10)
        assert set(boxes[0]) >= {"left", "right", "top", "bottom", "confidence"}
        assert all(b["confidence"] > 0.6 and b["left"] < b["right"] and b["top"] < b["bottom"] for b in boxes)


def test_save_inference_model_round_trip(face, tmp_path):
    saved = face.save_inference_model(str(tmp_path / "exported"))
    assert (tmp_path / "exported" / "face_landmark" / "pfld_68.onnx").is_file()
    assert (tmp_path / "exported" / "detector" / "ultraface_rfb_320.onnx").is_file()
    spec = json.loads((tmp_path / "exported" / "face_landmark" / "model.json").read_text())
    assert "112x112" in spec["input"] and spec["keypoints"]["num_keypoints"] == 68
    reloaded = hub.Module(directory=saved)
    assert str(reloaded.net().model.path).startswith(str(tmp_path))
    assert str(reloaded.detector.net().model.path).startswith(str(tmp_path))
    paths = [str(GROUP), str(DATA / "images" / "linzaer_13.jpg")]
    assert reloaded.keypoint_detection(paths=paths) == face.keypoint_detection(paths=paths)


def test_bad_inputs_do_not_break_the_batch(face, tmp_path):
    good = str(DATA / "images" / "linzaer_13.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    colour = cv2.imread(good)
    grey_png = tmp_path / "grey.png"
    cv2.imwrite(str(grey_png), cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY))
    rgba_png = tmp_path / "rgba.png"
    cv2.imwrite(str(rgba_png), cv2.cvtColor(colour, cv2.COLOR_BGR2BGRA))
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.full((1, 1, 3), 128, np.uint8))
    paths = [str(tmp_path / "missing.jpg"), str(text), str(empty), str(grey_png), str(rgba_png), str(tiny), good]
    results = face.keypoint_detection(paths=paths, batch_size=3)
    assert len(results) == len(paths)
    assert "file not found" in results[0]["error"] and "missing.jpg" in results[0]["error"]
    assert "not a decodable image" in results[1]["error"] and "notes.jpg" in results[1]["error"]
    assert "empty file" in results[2]["error"] and "empty.jpg" in results[2]["error"]
    reference = np.array(results[6]["data"])
    assert reference.shape[1:] == (68, 2)
    for r in (results[3], results[4]):  # grey and RGBA are converted, and find the same faces
        assert "error" not in r and len(r["data"]) == len(reference)
        assert np.abs(np.array(r["data"]) - reference).mean() < 3.0
    assert results[5]["data"] == [] and "error" not in results[5] and results[5]["image_size"] == {"width": 1, "height": 1}


def test_wrong_types_and_strict_mode(face):
    results = face.keypoint_detection(images=[123, np.zeros((0, 0, 3), np.uint8), cv2.imread(str(GROUP))])
    assert "images[0]" in results[0]["error"] and "int" in results[0]["error"]
    assert "images[1]" in results[1]["error"] and "empty" in results[1]["error"]
    assert len(results[2]["data"]) > 10
    with pytest.raises(hub.ImageError, match="images\\[0\\]"):
        face.keypoint_detection(images=[123], strict=True)


def test_huge_image_is_refused_before_decoding(face, tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_MAX_IMAGE_PIXELS", "1000000")
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((1100, 1000, 3), np.uint8))
    (r,) = face.keypoint_detection(paths=[str(big)])
    assert "over the limit" in r["error"] and "big.png" in r["error"]


def test_visualization_draws_each_image_on_itself(face, tmp_path):
    a = cv2.imread(str(GROUP))
    b = cv2.imread(str(DATA / "images" / "linzaer_13.jpg"))
    paths = [str(GROUP), str(DATA / "images" / "linzaer_13.jpg"), str(GROUP)]
    results = face.keypoint_detection(paths=paths, visualization=True, output_dir=str(tmp_path), batch_size=2)
    saved = [r["save_path"] for r in results]
    assert len(set(saved)) == 3  # the repeated input does not overwrite the first
    for path, source, r in zip(saved, (a, b, a), results):
        drawn = cv2.imread(path)
        assert drawn.shape == source.shape
        changed = np.abs(drawn.astype(int) - source.astype(int)).sum(2) > 60
        assert changed.mean() < 0.2  # landmarks drawn over the same picture, not a different one
        for pts in r["data"]:  # pixels near every face's landmarks are drawn over
            x, y = np.round(np.mean(pts, 0)).astype(int)
            assert changed[max(0, y - 40):y + 40, max(0, x - 40):x + 40].any()


def test_use_gpu_without_cuda_is_a_clear_error(face):
    import onnxruntime as ort
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="CUDA"):
        face.keypoint_detection(paths=[str(GROUP)], use_gpu=True)
