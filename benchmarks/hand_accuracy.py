"""Hand keypoint accuracy of hand_pose_localization on the hand samples in shared/data (METRICS.md):
detection rate, PCK@0.2 (norm = longer side of the annotated box), AUC (20 thresholds over 0..30 px), EPE,
once with the palm detector and once with the annotated box as user box (landmark accuracy alone),
plus images/s of the detector pipeline, and MediaPipe Hands scored the same way on the same hands
(from benchmarks/results/mediapipe_hands_reference.json, written by mediapipe_hands_reference.py).

    python benchmarks/hand_accuracy.py [--model full|lite] [--threads 1] [--out benchmarks/results/hand_accuracy.json]
"""
import argparse
import glob
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hand"
REFERENCE = Path(__file__).parent / "results" / "mediapipe_hands_reference.json"


def cmu_samples():
    root = DATA / "cmu_handdb_sample_howiema" / "dataset" / "CMUHand"
    out = []
    for label in sorted(glob.glob(str(root / "label" / "*.json"))):
        pts = np.asarray(json.loads(Path(label).read_text())["hand_pts_crop"], np.float64)
        # no box annotated: the tight box of the 21 points stands for it
        out.append({"path": str(root / "data" / (Path(label).stem + ".jpg")), "keypoints": pts,
                    "visible": np.ones(21, bool), "box": np.r_[pts.min(0), pts.max(0)]})
    return out


def coco_samples(name):
    folder = DATA / "mmpose_tests" / name
    coco = json.loads((folder / f"test_{name}.json").read_text())
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    out = []
    for ann in coco["annotations"]:
        kp = np.asarray(ann["keypoints"], np.float64).reshape(21, 3)
        x, y, w, h = ann["bbox"]
        out.append({"path": str(folder / files[ann["image_id"]]), "keypoints": kp[:, :2], "visible": kp[:, 2] > 0,
                    "box": np.array([x, y, x + w, y + h])})
    return out


def box_iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / max(union, 1e-9)


def match(sample, instances, min_iou=0.3):
    """The predicted hand whose keypoint box overlaps the annotated box most (IoU >= min_iou), else None."""
    best = max(instances, key=lambda inst: box_iou(inst["box"], sample["box"]), default=None)
    if best is None or box_iou(best["box"], sample["box"]) < min_iou:
        return None
    return np.asarray(best["keypoints"])


def metrics(samples, predictions):
    """mmpose PCKAccuracy(thr 0.2, bbox norm), AUC(norm_factor 30, 20 thresholds), EPE over matched hands."""
    found = [(s, p) for s, p in zip(samples, predictions) if p is not None]
    result = {"hands": len(samples), "detected": len(found), "detection_rate": round(len(found) / len(samples), 4)}
    if not found:
        return result
    dist = np.stack([np.linalg.norm(p - s["keypoints"], axis=1) for s, p in found])       # (H, 21) px
    valid = np.stack([s["visible"] for s, _ in found])
    norm = np.array([np.max(s["box"][2:] - s["box"][:2]) for s, _ in found])[:, None]
    pck_per_kpt = [((dist[:, k] / norm[:, 0]) < 0.2)[valid[:, k]].mean() for k in range(21) if valid[:, k].any()]
    thrs = np.arange(20) / 20 * 30
    auc = np.mean([np.mean([(dist[:, k] < t)[valid[:, k]].mean() for k in range(21) if valid[:, k].any()])
                   for t in thrs])
    result.update({"pck@0.2": round(float(np.mean(pck_per_kpt)), 4), "auc": round(float(auc), 4),
                   "epe_px": round(float(dist[valid].mean()), 2)})
    return result


def hand_sets():
    return {"cmu_handdb_sample": cmu_samples(), "onehand10k": coco_samples("onehand10k"),
            "freihand": coco_samples("freihand"), "panoptic": coco_samples("panoptic")}


def images_per_s(module, images, passes=3):
    module.keypoint_detection(images=images[:1])  # warm-up
    start = time.perf_counter()
    for _ in range(passes):
        module.keypoint_detection(images=images)
    return round(passes * len(images) / (time.perf_counter() - start), 1)


def mediapipe_matches(samples, reference):
    """MediaPipe's saved hands matched to the annotations like ours (None where it found none)."""
    by_name = reference["hands"]
    return [match(s, [{"box": np.r_[np.min(h["keypoints"], 0), np.max(h["keypoints"], 0)],
                       "keypoints": h["keypoints"]} for h in by_name.get(Path(s["path"]).name, [])])
            for s in samples]


def against_mediapipe(samples, ours, theirs):
    """MediaPipe's metrics, and both pipelines on the hands both of them find."""
    both = [i for i in range(len(samples)) if ours[i] is not None and theirs[i] is not None]
    common = [samples[i] for i in both]
    return {"mediapipe": metrics(samples, theirs), "hands_both_find": len(both),
            "ours_on_common_hands": metrics(common, [ours[i] for i in both]),
            "mediapipe_on_common_hands": metrics(common, [theirs[i] for i in both])}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="full", choices=["full", "lite"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reference", default=str(REFERENCE),
                        help="MediaPipe's landmarks (benchmarks/mediapipe_hands_reference.py); skipped if missing")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "hand_accuracy.json"))
    args = parser.parse_args()
    from hub_core.module import Module  # here, so mediapipe_hands_reference.py can import the readers alone
    module = Module(name="hand_pose_localization", model=args.model, threads=args.threads)
    # user boxes say a hand is there: keep every hand whatever its presence score
    boxed = Module(name="hand_pose_localization", model=args.model, threads=args.threads, min_presence=0.0)
    reference = json.loads(Path(args.reference).read_text()) if Path(args.reference).is_file() else None
    report = {"module": "hand_pose_localization", "model": args.model, "threads": args.threads,
              "reference": "MediaPipe Hands on the CMU sample: 11/16 detected, PCK@0.2 90.5%, EPE 15.0 px, "
                           "48 images/s on one core",
              "notes": "PCK/AUC/EPE over detected (matched) hands only; a prediction matches when its keypoint box "
                       "has IoU >= 0.3 with the annotated box (CMU: tight box of the 21 points). 'user_box' runs the "
                       "annotated box through boxes= (upright ROI x1.5 + one landmark-ROI refinement pass). "
                       "images_per_s: 3 passes over the set after a warm-up. 'versus_mediapipe': MediaPipe's saved "
                       "landmarks scored the same way, and both pipelines on the hands both find.",
              "datasets": {}}
    pooled = []
    for name, samples in hand_sets().items():
        images = [cv2.imread(s["path"]) for s in samples]
        detected = module.keypoint_detection(images=images)
        ours = [match(s, e["instances"]) for s, e in zip(samples, detected)]
        by_box = boxed.keypoint_detection(images=images, boxes=[[s["box"].tolist()] for s in samples])
        report["datasets"][name] = {
            "palm_detector": {**metrics(samples, ours), "images_per_s": images_per_s(module, images)},
            "user_box": metrics(samples, [np.asarray(e["instances"][0]["keypoints"]) if e["instances"] else None
                                          for e in by_box]),
        }
        if reference and name in reference["datasets"]:
            theirs = mediapipe_matches(samples, reference["datasets"][name])
            report["datasets"][name]["versus_mediapipe"] = {
                **against_mediapipe(samples, ours, theirs),
                "mediapipe_images_per_s": reference["datasets"][name]["images_per_s"]}
            pooled.append((samples, ours, theirs))
    if pooled:  # every set together: 32 hands
        report["all_sets_versus_mediapipe"] = {
            "ours": metrics(sum((p[0] for p in pooled), []), sum((p[1] for p in pooled), [])),
            **against_mediapipe(*(sum((p[k] for p in pooled), []) for k in range(3)))}
    text = json.dumps(report, indent=2)
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
