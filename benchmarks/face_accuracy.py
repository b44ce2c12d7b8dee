"""Full face pipeline (detector boxes, not ground truth) on 300-W AFW: detection rate, NME, failure
rate and end-to-end images/s (decode included). Writes JSON.

    python benchmarks/face_accuracy.py [--detector ..._640] [--landmark_model mobilefacenet_68] [--out F]
"""
import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import hub_core as hub
from hub_core.engine import default_threads
from hub_core.geometry import iou_one_to_many

REPO = Path(__file__).resolve().parents[1]
AFW = REPO.parent / "shared" / "data" / "face" / "300w_afw"


def load_annotations():
    ann = json.loads((AFW / "annotations_68pt_coco.json").read_text())
    faces = {}
    for a in ann["annotations"]:
        faces.setdefault(a["image_id"], []).append(np.array(a["keypoints"], np.float64).reshape(68, 3)[:, :2])
    return [(str(AFW / im["file_name"]), faces.get(im["id"], [])) for im in ann["images"]]


def match(truths, entry, min_iou=0.3):
    """Greedy one-to-one matching of annotated faces (tight landmark box) to detected boxes by IoU."""
    boxes = np.array([i["box"] for i in entry["instances"]], np.float64).reshape(-1, 4)
    pairs, taken = [], set()
    ious = np.array([iou_one_to_many(np.r_[g.min(0), g.max(0)], boxes) if len(boxes) else [] for g in truths])
    for flat in np.argsort(-ious, axis=None) if ious.size else []:
        t, d = np.unravel_index(flat, ious.shape)
        if ious[t, d] < min_iou:
            break
        if t not in {p[0] for p in pairs} and d not in taken:
            pairs.append((t, d))
            taken.add(d)
    return pairs


def nme(pred, gt):
    """Mean point error / outer-eye-corner distance (METRICS.md, 300-W)."""
    return float(np.linalg.norm(pred - gt, axis=1).mean() / np.linalg.norm(gt[36] - gt[45]))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--detector", default="ultra_light_fast_generic_face_detector_1mb_640")
    ap.add_argument("--landmark_model", default="mobilefacenet_68")
    ap.add_argument("--batch_size", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes over the set (best is reported)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "face_accuracy.json"))
    args = ap.parse_args()

    data = load_annotations()
    paths = [p for p, _ in data]
    module = hub.Module(name="face_landmark_localization", landmark_model=args.landmark_model,
                        face_detector_module=hub.Module(name=args.detector))
    results = module.keypoint_detection(paths=paths, batch_size=args.batch_size)  # also the warm-up

    errors, detected, total = [], 0, 0
    for (path, truths), entry in zip(data, results):
        total += len(truths)
        for t, d in match(truths, entry):
            detected += 1
            errors.append(nme(np.array(entry["data"][d]), truths[t]))
    errors = np.array(errors)

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        module.keypoint_detection(paths=paths, batch_size=args.batch_size)
        times.append(time.perf_counter() - start)

    report = {
        "dataset": "300-W AFW (185 images, 337 annotated faces), ../shared/data/face/300w_afw",
        "pipeline": {"detector": args.detector, "landmark_model": args.landmark_model, "batch_size": args.batch_size,
                     "boxes": "detector (matched to annotations by IoU >= 0.3 with the tight landmark box)"},
        "images": len(paths), "annotated_faces": total, "detected_faces": detected,
        "detection_rate": detected / total,
        "mean_nme_percent": float(errors.mean() * 100),
        "median_nme_percent": float(np.median(errors) * 100),
        "failure_rate_percent": float((errors > 0.08).mean() * 100),
        "auc_0.08": float(np.mean([(errors <= t).mean() for t in np.linspace(0, 0.08, 81)])),
        "images_per_s": len(paths) / min(times),
        "seconds_per_pass": [round(t, 3) for t in times],
        "detections_total": sum(len(e["data"]) for e in results),
        "machine": {"cpus": os.cpu_count(), "threads": default_threads(),
                    "processor": platform.processor() or platform.machine()},
        "timing": "end to end: file read + JPEG decode + detector + crops + landmark model + results",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
