"""`hub benchmark` writes per-stage timings (no speed assertions: the machine is shared)."""
import json
import os

from conftest import DATA
from hub_core import bench


def test_benchmark_face_three_images(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted((DATA / "face" / "300w_afw" / "images").glob("*.jpg"))[:3]:
        os.symlink(p, images / p.name)
    out = tmp_path / "bench.json"
    assert bench.main(["face_landmark_localization", "--images", str(images), "--repeat", "1", "--threads", "1",
                       "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["images"] == 3 and report["instances_per_image"] > 0
    assert set(report["stages_per_image"]) == {"decode", "detector", "keypoint", "postprocess", "total"}
    for stage in ("decode", "detector", "keypoint", "total"):
        assert report["stages_per_image"][stage]["median_ms"] > 0
        assert report["stages_per_image"][stage]["p90_ms"] >= report["stages_per_image"][stage]["median_ms"]
    assert report["images_per_s"] > 0 and report["peak_rss_mb"] > 0
    assert set(report["models_alone"]) == {"keypoint:mobilefacenet_68", "detector:ultraface_rfb_640"}
    assert all(m["ms_per_run"] > 0 and m["rows_per_image"] > 0 for m in report["models_alone"].values())
    assert report["pipeline_over_models"] > 0
    assert "pipeline / models alone" in capsys.readouterr().out


def test_benchmark_unknown_module_fails_clearly(capsys):
    assert bench.main(["no_such_module"]) == 1
    assert "no_such_module" in capsys.readouterr().err
