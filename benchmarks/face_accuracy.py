"""Full face pipeline (detector boxes, not ground truth) on 300-W AFW: `hub eval` (detection rate, NME,
failure rate, AUC@0.08) and `hub benchmark` (end-to-end images/s, decode included). Writes JSON.

    python benchmarks/face_accuracy.py [--detector ..._640] [--landmark_model mobilefacenet_68] [--flip]
                                       [--refine_passes 1] [--out F]

Without --flip / --refine_passes: one pass, the default before modes (benchmarks/modes.py measures the modes).
"""
import argparse
import json
import os
import platform
from pathlib import Path

import hub_core as hub
from hub_core.bench import benchmark
from hub_core.engine import default_threads
from hub_core.evaluate import emit_report, evaluate, load_annotations

REPO = Path(__file__).resolve().parents[1]
AFW = REPO.parent / "shared" / "data" / "face" / "300w_afw" / "annotations_68pt_coco.json"
ACCURACY_KEYS = {  # this file's key: hub eval's
    "annotated_faces": "instances", "detected_faces": "matched", "detection_rate": "detection_rate",
    "mean_nme_percent": "mean_nme_percent", "median_nme_percent": "median_nme_percent",
    "failure_rate_percent": "failure_rate_percent", "auc_0.08": "auc_0.08", "epe_px": "epe_px",
    "detections_total": "predicted_instances"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--detector", default="ultra_light_fast_generic_face_detector_1mb_640")
    ap.add_argument("--landmark_model", default="mobilefacenet_68")
    ap.add_argument("--flip", action="store_true", help="average with the mirrored crop")
    ap.add_argument("--refine_passes", type=int, default=0)
    ap.add_argument("--batch_size", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes over the set")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "face_accuracy.json"))
    args = ap.parse_args()

    module = hub.Module(name="face_landmark_localization", landmark_model=args.landmark_model,
                        face_detector_module=hub.Module(name=args.detector), flip=args.flip,
                        refine_passes=args.refine_passes)
    data = load_annotations(AFW, num_keypoints=len(module.meta["keypoints"]))
    accuracy = evaluate(module, data, batch_size=args.batch_size)
    speed = benchmark(module, [im["path"] for im in data["images"]], args.batch_size, args.repeat)

    report = {
        "dataset": "300-W AFW (185 images, 337 annotated faces), ../shared/data/face/300w_afw",
        "pipeline": {"detector": args.detector, "landmark_model": args.landmark_model, "flip": args.flip,
                     "refine_passes": args.refine_passes, "batch_size": args.batch_size,
                     "boxes": "detector (matched to annotations by IoU >= 0.3 with the annotated box)"},
        "images": accuracy["images"],
        **{key: accuracy[source] for key, source in ACCURACY_KEYS.items()},
        "images_per_s": speed["images_per_s"],
        "stages_per_image": speed["stages_per_image"],
        "models_alone_ms_per_image": speed["models_alone_ms_per_image"],
        "machine": {"cpus": os.cpu_count(), "threads": default_threads(),
                    "processor": platform.processor() or platform.machine()},
        "timing": f"hub benchmark: {args.repeat} passes after a warm-up, end to end (file read + JPEG decode + "
                  "detector + crops + landmark model + results)",
    }
    emit_report(json.dumps(report, indent=2), report, args.out)


if __name__ == "__main__":
    main()
