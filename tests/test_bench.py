"""`hub benchmark` writes per-stage timings (no speed assertions: the machine is shared)."""
import json
import math
import os

import pytest
from conftest import DATA
import hub_core as hub
from hub_core import bench

CASES = {  # module -> (image folder, its models as reported)
    "face_landmark_localization": (DATA / "face" / "300w_afw" / "images",
                                   {"keypoint:pfld_68", "detector:ultraface_rfb_320"}),
    "human_pose_estimation": (DATA / "body" / "coco_train_mini" / "train2017",
                              {"keypoint:tinypose_256x192", "detector:yolox_nano_416x416"}),
}


@pytest.mark.parametrize("module", sorted(CASES))
@pytest.mark.parametrize("batch_size", [1, 3])
def test_benchmark_three_images(module, batch_size, tmp_path, capsys):
    folder, models = CASES[module]
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted(folder.glob("*.jpg"))[:3]:
        os.symlink(p, images / p.name)
    out = tmp_path / "bench.json"
    assert bench.main([module, "--images", str(images), "--repeat", "1", "--threads", "1",
                       "--batch_size", str(batch_size), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["images"] == 3 and report["instances_per_image"] > 0
    stages = report["stages_per_image"]
    assert list(stages) == ["decode", "detector", "crop", "keypoint_model", "postprocess", "total"]
    for stage in ("decode", "detector", "crop", "keypoint_model", "total"):
        assert stages[stage]["median_ms"] > 0
        assert stages[stage]["p90_ms"] >= stages[stage]["median_ms"]
    parts = sum(s["mean_ms"] for name, s in stages.items() if name != "total")
    assert parts == pytest.approx(stages["total"]["mean_ms"], abs=0.01)  # the stages partition the total
    assert report["images_per_s"] > 0 and report["peak_rss_mb"] > 0
    assert set(report["models_alone"]) == models
    keypoint = next(m for name, m in report["models_alone"].items() if name.startswith("keypoint:"))
    detector = next(m for name, m in report["models_alone"].items() if name.startswith("detector:"))
    # every instance found is one keypoint-model row per pass (two with the mirrored crop), and OKS-NMS may drop
    # instances after the model ran; the detector sees each image once, several per run when batched (up to the
    # engine's rows_per_run)
    options = hub.Module(name=module).options  # the default mode's recipe
    rows_per_instance = (2 if options.get("flip") or options.get("flip_test") else 1) * (1 + options.get("refine_passes", 0))
    expected_rows = report["instances_per_image"] * rows_per_instance
    if options.get("oks_nms_threshold") is None:
        assert keypoint["rows_per_image"] == pytest.approx(expected_rows, abs=1e-3)
    else:
        assert keypoint["rows_per_image"] >= expected_rows - 1e-3
    assert detector["rows_per_image"] == 1
    assert 1 / batch_size - 1e-3 <= detector["runs_per_image"] <= math.ceil(batch_size / 2) / batch_size + 1e-3
    for m in report["models_alone"].values():
        assert m["ms_per_row_batch_1"] > 0 and m["ms_per_image"] > 0 and m["in_pipeline_ms_per_image"] > 0
        assert m["in_pipeline_ms_per_image"] <= report["stages_per_image"]["total"]["mean_ms"] * 1.01
    assert stages["keypoint_model"]["mean_ms"] == pytest.approx(keypoint["in_pipeline_ms_per_image"], abs=0.01)
    assert report["models_alone_ms_per_image"] > 0 and len(report["passes"]) == 1
    assert report["pipeline_over_models"] > report["pipeline_over_models_without_decode"] > 0
    assert "pipeline / models alone" in capsys.readouterr().out


def test_benchmark_unknown_module_fails_clearly(capsys):
    assert bench.main(["no_such_module"]) == 1
    assert "no_such_module" in capsys.readouterr().err
