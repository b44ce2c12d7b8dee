"""`hub finetune` on the DeepLabCut openfield mouse (116 frames, 4 points): a fixed seeded split of 96 training /
20 test frames, trained from the PP-TinyPose start and from scratch (same network, random weights). Each
exported module is then run end to end (whole_image_detector + ONNX) on the 20 test frames: RMSE (px),
mean error (px), PCK@0.1 / @0.2 (longer side of the labelled points' box), training time, images/s.
Writes benchmarks/results/finetune_mouse.json.

    python benchmarks/finetune_mouse.py [--epochs 20] [--variants pretrained scratch] [--keep DIR]
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hub_core as hub  # noqa: E402
from hub_core import finetune  # noqa: E402
from hub_core.finetune import train as training  # noqa: E402
from hub_core.finetune.data import load_samples  # noqa: E402
from hub_core.versions import library_versions  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MOUSE = (REPO.parent / "shared" / "data" / "animal" / "dlc_openfield_mouse" / "examples" /
         "openfield-Pranav-2018-10-30" / "labeled-data" / "m4s1")
META = REPO / "modules" / "animal_pose_estimation" / "mouse_keypoints.json"
TEST_FRAMES = 20
SEED = 0


def evaluate_module(folder, samples, test_idx, repeats=2):
    """End-to-end figures of the exported module on the test frames, and its speed (images/s)."""
    module = hub.Module(directory=folder)
    paths = [samples[i]["path"] for i in test_idx]
    results = module.keypoint_detection(paths=paths)
    pred = np.asarray([r["instances"][0]["keypoints"] for r in results])
    figures = training.scores(pred, samples, test_idx)
    started = time.perf_counter()
    for _ in range(repeats):
        module.keypoint_detection(paths=paths)
    figures["images_per_s"] = round(repeats * len(paths) / (time.perf_counter() - started), 1)
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--input_size", default="256x192")
    parser.add_argument("--variants", nargs="+", choices=["pretrained", "scratch"], default=["pretrained", "scratch"])
    parser.add_argument("--keep", default=None, help="keep the pretrained run's module folder here")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "finetune_mouse.json"))
    args = parser.parse_args(argv)

    meta = json.loads(META.read_text())
    samples, _, _ = load_samples(MOUSE / "CollectedData_Pranav.csv", MOUSE, meta, "image")
    report = {"data": f"DeepLabCut openfield mouse m4s1, {len(samples)} frames 640x480, 4 points; seeded split "
                      f"(seed {SEED}): {len(samples) - TEST_FRAMES} train / {TEST_FRAMES} test frames",
              "epochs": args.epochs, "input_size": args.input_size, "threads": os.environ.get("HUB_NUM_THREADS"),
              "metric_notes": "end to end on the test frames (whole_image_detector + exported ONNX, DARK); RMSE = "
                              "sqrt(mean squared px error); PCK normalised by the longer side of the labelled "
                              "points' tight box", "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            folder = Path(tmp) / f"mouse_{variant}"
            ft_args = finetune.build_parser().parse_args([
                "--ann", str(MOUSE / "CollectedData_Pranav.csv"), "--images", str(MOUSE), "--keypoints", str(META),
                "--out", str(folder), "--name", "animal_mouse_openfield", "--epochs", str(args.epochs),
                "--input_size", args.input_size, "--val_split", str(TEST_FRAMES), "--seed", str(SEED),
                "--license", "LGPL-3.0 (training data) / Apache-2.0 (PP-TinyPose start)",
                "--pretrained" if variant == "pretrained" else "--no-pretrained", "--quiet"])
            summary = finetune.run(ft_args, log=lambda line, variant=variant: print(f"[{variant}] {line}", file=sys.stderr))
            test_frames = sorted({samples[i]["path"] for i in summary["val_idx"]})
            run = {"train_seconds": round(summary["train_seconds"], 1), "best_epoch": summary["best"]["epoch"],
                   "test": evaluate_module(folder, samples, summary["val_idx"]),
                   "history": summary["history"], "model_sha256": summary["sha256"],
                   "test_frames": [Path(p).name for p in test_frames]}
            report["runs"][variant] = run
            if args.keep and variant == "pretrained":
                shutil.rmtree(args.keep, ignore_errors=True)
                shutil.copytree(folder, args.keep)
    if {"pretrained", "scratch"} <= set(report["runs"]):
        p, s = report["runs"]["pretrained"]["test"], report["runs"]["scratch"]["test"]
        report["pretrained_beats_scratch"] = bool(p["rmse_px"] < s["rmse_px"] and p["pck@0.1"] >= s["pck@0.1"])
    report["libraries"] = library_versions()
    text = json.dumps(report, indent=2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
