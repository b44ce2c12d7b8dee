"""Paddle deployment: save_inference_model(format="paddle") writes PaddleHub-named Paddle inference models,
and hub.Module(directory=..., backend="paddle") runs them on Paddle Inference with the keypoints of ONNX
Runtime on real images. Needs the [paddle] extra and the converter environment (see README)."""
import json
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import hub_core as hub
from conftest import DATA, hub_cmd
from hub_core import paddle_convert

pytest.importorskip("paddle.inference", reason='Paddle Inference absent: pip install -e ".[paddle]"')
if not paddle_convert.converter_ready():
    pytest.skip(f"ONNX -> Paddle converter environment absent ({paddle_convert.converter_env()}): "
                "python -m hub_core.paddle_convert setup", allow_module_level=True)

IMAGES = {
    "face_landmark_localization": [DATA / "images" / "cunjian_group24.jpg", DATA / "images" / "linzaer_13.jpg"],
    "hand_pose_localization": [DATA / "images" / "cunjian_group24.jpg", DATA / "hand/mmpose_tests/onehand10k/9.jpg"],
    "human_pose_estimation": [DATA / "images" / "nanodet_zidane.jpg", DATA / "body/coco_train_mini/train2017/000000000790.jpg"],
}
ROLE = {"face_landmark_localization": "landmark", "hand_pose_localization": "landmark",
        "human_pose_estimation": "pose"}


def assert_same_keypoints(paddle_entries, onnx_entries, tolerance_px=0.5, min_score=0.3):
    """Every keypoint within tolerance_px; for heatmap keypoints, those scored at least min_score (the drawing
    threshold), with every score within 0.02: a heatmap with two near-equal peaks (a joint out of view) may
    put a low-score keypoint on the other peak under another runtime's float rounding."""
    assert sum(len(e["instances"]) for e in onnx_entries) >= 2  # real instances were compared
    for got, want in zip(paddle_entries, onnx_entries, strict=True):
        assert len(got["instances"]) == len(want["instances"]), want["path"]
        for a, b in zip(got["instances"], want["instances"]):
            close = np.abs(np.subtract(a["keypoints"], b["keypoints"])).max(-1) < tolerance_px
            if b["keypoint_scores"] is not None:
                scores = np.array(b["keypoint_scores"])
                assert np.abs(np.subtract(a["keypoint_scores"], scores)).max() < 0.02, want["path"]
                close |= scores < min_score
            assert close.all(), (want["path"], np.flatnonzero(~close), b["keypoint_scores"])


@pytest.mark.parametrize("name", list(IMAGES))
def test_paddle_export_reloads_with_onnx_runtime_keypoints(name, tmp_path, monkeypatch):
    if name == "human_pose_estimation":  # oneDNN's set-up of YOLOX / PP-TinyPose takes minutes: plain kernels
        monkeypatch.setenv("HUB_PADDLE_ONEDNN", "0")
    paths = [str(p) for p in IMAGES[name]]
    module = hub.Module(name=name)
    expected = module.keypoint_detection(paths=paths)
    export = tmp_path / "exported"
    module.save_inference_model(str(export), format="paddle")
    for role in (ROLE[name], "detector"):
        for suffix in (".pdmodel", ".pdiparams", ".processing.json"):
            assert (export / f"exported_{role}{suffix}").is_file(), f"exported_{role}{suffix}"
    assert not list(export.rglob("*.onnx"))
    spec = json.loads((export / "inference.json").read_text())
    assert spec["format"] == "paddle" and spec["models"]
    description = json.loads((export / f"exported_{ROLE[name]}.processing.json").read_text())
    assert description["module"] == name and "input" in description

    reloaded = hub.Module(directory=str(export), backend="paddle")
    assert reloaded.backend == "paddle" and reloaded.detector.backend == "paddle"
    assert reloaded.net().model.session.program.parent == export
    assert_same_keypoints(reloaded.keypoint_detection(paths=paths), expected)


def test_paddle_export_needs_the_paddle_backend(tmp_path):
    face = hub.Module(name="face_landmark_localization")
    face.save_inference_model(str(tmp_path / "exported"), format="paddle")
    assert hub.Module(directory=str(tmp_path / "exported")).backend == "paddle"  # inference.json says so
    with pytest.raises(ValueError, match='exported_landmark.pdmodel is a Paddle model: .*backend="paddle"'):
        hub.Module(directory=str(tmp_path / "exported"), backend="onnxruntime").keypoint_detection(
            paths=[str(IMAGES["face_landmark_localization"][1])])


def test_hub_run_backend_paddle_matches_onnx_runtime():
    image = str(IMAGES["face_landmark_localization"][0])
    runs = [subprocess.run(hub_cmd() + ["run", "face_landmark_localization", "--input_path", image, "--compact",
                                        "--backend", backend], capture_output=True, text=True, timeout=600)
            for backend in ("paddle", "onnxruntime")]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr[-2000:]
    assert_same_keypoints(*[json.loads(r.stdout) for r in runs])


def test_unconvertible_graph_names_itself(tmp_path):
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="example.custom")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)])
    onnx.save(model, str(tmp_path / "strange_net.onnx"))
    with pytest.raises(paddle_convert.ConversionError, match="strange_net.onnx: x2paddle 1.6.0 could not convert"):
        paddle_convert.convert(tmp_path / "strange_net.onnx", tmp_path / "out" / "strange")


def test_paddle_use_gpu_without_cuda_is_a_clear_error():
    import paddle
    if paddle.is_compiled_with_cuda():
        pytest.skip("this Paddle has CUDA")
    face = hub.Module(name="face_landmark_localization", backend="paddle")
    with pytest.raises(RuntimeError, match="paddlepaddle-gpu"):
        face.keypoint_detection(paths=[str(IMAGES["face_landmark_localization"][1])], use_gpu=True)
