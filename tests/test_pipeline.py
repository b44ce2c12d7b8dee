"""One input pipeline: each input keeps its own name from the edge (Python API, hub.infer, serving) to its
result; labels come from whoever made the boxes; options are checked before any image is read; the generic
top-down module has no animal defaults."""
import base64
import json
import shutil

import cv2
import numpy as np
import pytest

import hub_core as hub
from conftest import DATA, REPO
from hub_core.serving.app import create_app

IMAGES = DATA / "images"
PERSON = IMAGES / "nanodet_person.jpg"
ANIMAL = REPO / "modules" / "animal_pose_estimation"
# An image 1500 times wider than high decodes fine and fails in processing: the person detector's letterbox
# would resize it to zero rows.
TOO_WIDE = np.full((2, 3000, 3), 128, np.uint8)


@pytest.fixture(scope="module")
def body():
    return hub.Module(name="human_pose_estimation")


def png(image):
    return cv2.imencode(".png", image)[1].tobytes()


def test_serving_names_each_image_by_its_own_position():
    """Bug 1: [corrupt, good, fails in processing] -> the third error names images[2]."""
    app = create_app({"human_pose_estimation": {}}, warm_up=False)
    good = base64.b64encode(png(cv2.imread(str(PERSON)))).decode()
    wide = base64.b64encode(png(TOO_WIDE)).decode()
    reply = app.test_client().post("/predict/human_pose_estimation", json={"images": ["bm90IGFuIGltYWdl", good, wide]})
    assert reply.status_code == 200, reply.get_json()
    corrupt, ok, failed = reply.get_json()["results"]
    assert corrupt["error"].startswith("images[0]")
    assert "error" not in ok and ok["instances"][0]["label"] == "person"
    assert failed["error"].startswith("images[2]: processing failed")


def test_infer_names_a_processing_failure_by_its_file(tmp_path, body):
    """Bug 2: a folder at batch_size 2; b.png fails in processing and its error names b.png."""
    shutil.copy(PERSON, tmp_path / "a.jpg")
    cv2.imwrite(str(tmp_path / "b.png"), TOO_WIDE)
    cv2.imwrite(str(tmp_path / "c.png"), cv2.imread(str(PERSON)))
    results = list(hub.infer(body, str(tmp_path), batch_size=2))
    assert [name for name, _ in results] == [str(tmp_path / n) for n in ("a.jpg", "b.png", "c.png")]
    a, b, c = (entry for _, entry in results)
    assert "error" not in a and "error" not in c
    assert b["error"].startswith(f"{tmp_path / 'b.png'}: processing failed") and b["path"] == str(tmp_path / "b.png")


def test_label_of_given_boxes_does_not_depend_on_call_history():
    """Bug 3: boxes given by the caller are labelled 'object', before and after a detector ran."""
    image = cv2.imread(str(PERSON))
    body = hub.Module(name="human_pose_estimation")  # fresh: no detector made yet
    first = body.keypoint_detection(images=[image], boxes=[[[100, 50, 300, 400]]])[0]
    detected = body.keypoint_detection(images=[image])[0]
    again = body.keypoint_detection(images=[image], boxes=[[[100, 50, 300, 400]]])[0]
    assert first["instances"][0]["label"] == again["instances"][0]["label"] == "object"
    assert detected["instances"][0]["label"] == "person"


def test_misspelt_option_raises_before_reading_images(tmp_path, body):
    """Bug 4: a typo is a TypeError naming it; no image is read (the missing file would be an entry)."""
    with pytest.raises(TypeError, match="flip_tset"):
        body.keypoint_detection(paths=[str(tmp_path / "missing.jpg")], flip_tset=True)
    assert body.keypoint_detection(images=[cv2.imread(str(PERSON))], flip_test=True)[0]["instances"]


MODULE_PY = """from hub_core.finetune.runtime import FinetunedKeypointModule


class {cls}(FinetunedKeypointModule):
    pass
"""


def top_down_folder(root, name, detector):
    """A module folder: metadata (default detector as data), keypoints.json, a module.py of four lines."""
    folder = root / name
    folder.mkdir()
    (folder / "module.py").write_text(MODULE_PY.format(cls=name.title().replace("_", "")))
    model = json.loads((ANIMAL / "module.json").read_text())["model_files"]
    (folder / "module.json").write_text(json.dumps({
        "name": name, "version": "1.0.0", "type": "keypoint_detection", "summary": "test", "license": "MIT",
        "default_detector": detector, "model_files": model}))
    shutil.copy(ANIMAL / "mouse_keypoints.json", folder / "keypoints.json")
    return folder


def test_generic_top_down_module_takes_its_detector_as_data(tmp_path, monkeypatch):
    """Bug 6: a top-down module naming yolox_nano_coco gets all of its classes (nothing animal about it),
    one naming {'name', 'classes'} gets those; visualisations go to <name>_output."""
    model = {"keypoint": str(ANIMAL / "models" / "animal_mouse_openfield.onnx")}
    plain = hub.Module(directory=top_down_folder(tmp_path, "plain_top_down", {"name": "yolox_nano_coco"}),
                       model_paths=model)
    bus = cv2.imread(str(IMAGES / "nanodet_bus.jpg"))
    assert {"person", "bus"} <= {i["label"] for i in plain.keypoint_detection(images=[bus])[0]["instances"]}
    people = hub.Module(directory=top_down_folder(tmp_path, "people_top_down",
                                                  {"name": "yolox_nano_coco", "classes": ["person"]}),
                        model_paths=model)
    monkeypatch.chdir(tmp_path)
    entry = people.keypoint_detection(images=[bus], visualization=True)[0]
    assert len(entry["instances"]) >= 3 and {i["label"] for i in entry["instances"]} == {"person"}
    assert entry["save_path"].startswith("people_top_down_output")


def test_serving_checks_each_detector_option_by_its_declared_type():
    """Bug 5: classes is a list of class names, not a number in 0..1; thresholds stay numbers in 0..1;
    /openapi.json documents the same parameters."""
    app = create_app({"yolox_nano_coco": {}}, warm_up=False).test_client()
    image = base64.b64encode(png(cv2.imread(str(IMAGES / "nanodet_bus.jpg")))).decode()

    def post(**params):
        return app.post("/predict/yolox_nano_coco", json={"images": [image], **params})

    people = post(classes=["person"], score_threshold=0.3)
    assert people.status_code == 200, people.get_json()
    assert {d["label"] for d in people.get_json()["results"][0]["data"]} == {"person"}
    for bad in ({"classes": 0.5}, {"classes": ["unicorn"]}, {"score_threshold": 1.5}, {"score_threshold": "high"}):
        reply = post(**bad)
        assert reply.status_code == 400 and next(iter(bad)) in reply.get_json()["msg"], bad
    schema = app.get("/openapi.json").get_json()["paths"]["/predict/yolox_nano_coco"]["post"]["requestBody"]
    props = schema["content"]["application/json"]["schema"]["properties"]
    assert props["classes"]["type"] == "array" and props["score_threshold"]["maximum"] == 1


KEYPOINTS_SCHEMA = json.loads((REPO / "hub_core" / "schemas" / "keypoints-1.0.json").read_text())
JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "array": list, "object": dict, "null": type(None)}


def schema_errors(value, schema, where):
    """The errors of value against the subset of JSON Schema keypoints-1.0.json uses."""
    if "enum" in schema:
        return [] if value in schema["enum"] else [f"{where}: {value!r} not in {schema['enum']}"]
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if not any(isinstance(value, JSON_TYPES[k]) and not isinstance(value, bool) for k in kinds):
        return [f"{where}: {type(value).__name__} is not {kinds}"]
    errors = []
    if isinstance(value, dict) and "properties" in schema:
        errors += [f"{where}: missing {k!r}" for k in schema.get("required", []) if k not in value]
        errors += [f"{where}: unknown key {k!r}" for k in value if k not in schema["properties"]]
        errors += [e for k, v in value.items() if k in schema["properties"]
                   for e in schema_errors(v, schema["properties"][k], f"{where}.{k}")]
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            errors.append(f"{where}: {len(value)} items")
        errors += [e for i, v in enumerate(value) for e in schema_errors(v, schema.get("items", {"type": list(JSON_TYPES)}), f"{where}[{i}]")]
    return errors


@pytest.mark.parametrize("path", sorted((REPO / "modules").glob("*/*keypoints.json")), ids=lambda p: p.parent.name + "/" + p.name)
def test_every_keypoints_json_follows_the_one_schema(path):
    meta = json.loads(path.read_text())
    assert schema_errors(meta, KEYPOINTS_SCHEMA, path.name) == []
    k = len(meta["keypoints"])
    assert meta["num_keypoints"] == k == len(meta["keypoint_colors"]) and len(meta["link_colors"]) == len(meta["skeleton"])
    assert all(0 <= i < k for pair in meta["skeleton"] + meta["flip_pairs"] for i in pair)
    assert meta.get("sigmas") is None or len(meta["sigmas"]) == k


def test_numpy_call_returns_unrounded_arrays(body):
    image = cv2.imread(str(PERSON))
    arrays = body(image)
    entry = body.keypoint_detection(images=[image])[0]
    n = len(entry["instances"])
    assert n >= 1 and arrays["boxes"].shape == (n, 4) and arrays["keypoints"].shape == (n, 17, 2)
    assert arrays["keypoint_scores"].shape == (n, 17) and arrays["scores"].shape == (n,) and arrays["labels"] == ["person"] * n
    assert np.allclose(arrays["keypoints"].round(3), entry["data"], atol=1e-3)
    assert not np.array_equal(arrays["keypoints"], np.round(arrays["keypoints"], 3))  # not rounded
    face = hub.Module(name="face_landmark_localization")(cv2.imread(str(IMAGES / "linzaer_13.jpg")))
    assert face["keypoints"].shape[1:] == (68, 2) and face["keypoint_scores"] is None and face["labels"][0] == "face"
