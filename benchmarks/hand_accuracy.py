"""Hand keypoint accuracy of hand_pose_localization on the hand samples in shared/data, through `hub eval`
(hub_core.evaluate: detection rate, PCK@0.2 of the annotated box's longer side, AUC over 0..30 px, EPE) once
with the palm detector and once with the annotated box as user box (landmark accuracy alone), images/s of the
detector pipeline through `hub benchmark`, and MediaPipe Hands scored the same way on the same hands (its
landmarks saved in benchmarks/results/mediapipe_hands_reference.json by mediapipe_hands_reference.py).

    python benchmarks/hand_accuracy.py [--model full|lite] [--threads 1] [--out benchmarks/results/hand_accuracy.json]

Importing this file needs only numpy (mediapipe_hands_reference.py runs in an environment without the hub's
dependencies): hub_core is imported where it is used.
"""
import argparse
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "hand"
REFERENCE = Path(__file__).parent / "results" / "mediapipe_hands_reference.json"
HAND_META = json.loads((REPO / "modules" / "hand_pose_localization" / "keypoints.json").read_text())
CMU = DATA / "cmu_handdb_sample_howiema" / "dataset" / "CMUHand"
HAND_SETS = {  # name -> annotations hub eval reads: a CMU HandDB folder or COCO keypoint JSON
    "cmu_handdb_sample": CMU,
    **{name: DATA / "mmpose_tests" / name / f"test_{name}.json" for name in ("onehand10k", "freihand", "panoptic")},
}


# --- light readers (no hub_core): mediapipe_hands_reference.py and tests/test_hand.py ------------------------
def cmu_samples():
    out = []
    for label in sorted((CMU / "label").glob("*.json")):
        pts = np.asarray(json.loads(label.read_text())["hand_pts_crop"], np.float64)
        out.append({"path": str(CMU / "data" / f"{label.stem}.jpg"), "keypoints": pts,
                    "visible": np.ones(len(pts), bool), "box": np.r_[pts.min(0), pts.max(0)]})
    return out


def coco_samples(name):
    coco = json.loads(HAND_SETS[name].read_text())
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    out = []
    for ann in coco["annotations"]:
        kp = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
        x, y, w, h = ann["bbox"]
        out.append({"path": str(HAND_SETS[name].parent / files[ann["image_id"]]), "keypoints": kp[:, :2],
                    "visible": kp[:, 2] > 0, "box": np.array([x, y, x + w, y + h])})
    return out


def hand_sets():
    return {name: cmu_samples() if name == "cmu_handdb_sample" else coco_samples(name) for name in HAND_SETS}


# --- scoring through hub_core.evaluate -------------------------------------------------------------------
def summary(hands, truths, preds):
    """The figures of one run: hands annotated, hands matched, and hub eval's metrics of the matched pairs."""
    from hub_core.evaluate import score
    result = {"hands": hands, "detected": len(truths), "detection_rate": round(len(truths) / hands, 4)}
    if truths:
        scores = score(truths, preds, HAND_META, "hand")
        result.update({k: scores[k] for k in ("pck@0.2", "auc", "epe_px")})
    return result


def match(sample, instances, min_iou=0.3):
    """Keypoints of the predicted hand hub eval pairs with this annotated sample, else None."""
    from hub_core.evaluate import match_entries
    data = {"images": [{"path": sample["path"], "instances": [{**sample, "ignore": False}]}]}
    found = match_entries(data, [{"instances": instances}], min_iou=min_iou)
    return found[0]["keypoints"] if found else None


def metrics(samples, predictions):
    """summary() of per-sample predictions (None where no hand matched)."""
    found = [(s, p) for s, p in zip(samples, predictions) if p is not None]
    return summary(len(samples), [s for s, _ in found], [p for _, p in found])


def figures(truths, preds, keys=None):
    """summary() over the annotated hands `keys` (default all): truths and preds map a hand key to its
    annotation and predicted keypoints (preds only for the hands a pipeline found)."""
    keys = list(truths) if keys is None else keys
    found = [k for k in keys if k in preds]
    return summary(len(keys), [truths[k] for k in found], [preds[k] for k in found])


def versus_mediapipe(truths, ours, theirs):
    """MediaPipe's figures, and both pipelines on the hands both of them find."""
    both = [k for k in truths if k in ours and k in theirs]
    return {"mediapipe": figures(truths, theirs), "hands_both_find": len(both),
            "ours_on_common_hands": figures(truths, ours, both),
            "mediapipe_on_common_hands": figures(truths, theirs, both)}


def mediapipe_entries(data, reference):
    """MediaPipe's saved hands as keypoint_detection() entries for the images of data (box: keypoints' box)."""
    hands = reference["hands"]
    return [{"instances": [{"box": np.r_[np.min(h["keypoints"], 0), np.max(h["keypoints"], 0)],
                            "keypoints": h["keypoints"]} for h in hands.get(Path(im["path"]).name, [])]}
            for im in data["images"]]


def hub_eval_figures(report):
    return {"hands": report["instances"], "detected": report["matched"],
            **{k: report[k] for k in ("detection_rate", "pck@0.2", "auc", "epe_px") if k in report}}


def keyed(name, matches):
    return {(name, m["image"], m["instance"]): np.asarray(m["keypoints"]) for m in matches}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="full", choices=["full", "lite"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over each set")
    parser.add_argument("--reference", default=str(REFERENCE),
                        help="MediaPipe's landmarks (benchmarks/mediapipe_hands_reference.py); skipped if missing")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "hand_accuracy.json"))
    args = parser.parse_args()
    from hub_core.bench import benchmark
    from hub_core.evaluate import emit_report, evaluate, load_annotations, match_entries
    from hub_core.module import Module

    module = Module(name="hand_pose_localization", model=args.model, threads=args.threads)
    # user boxes say a hand is there: keep every hand whatever its presence score
    boxed = Module(name="hand_pose_localization", model=args.model, threads=args.threads, min_presence=0.0)
    reference = json.loads(Path(args.reference).read_text()) if Path(args.reference).is_file() else None
    report = {"module": "hand_pose_localization", "model": args.model, "threads": args.threads,
              "reference": "MediaPipe Hands on the CMU sample: 11/16 detected, PCK@0.2 90.5%, EPE 15.0 px, "
                           "48 images/s on one core",
              "notes": "hub eval figures: PCK/AUC/EPE over detected (matched) hands only; a prediction matches when "
                       "its keypoint box has IoU >= 0.3 with the annotated box (CMU: tight box of the 21 points). "
                       "'user_box': hub eval --boxes gt (the annotated box through boxes=: upright ROI x1.5 + one "
                       f"landmark-ROI refinement pass). images_per_s: hub benchmark, {args.repeat} passes over the set "
                       "after a warm-up, decode included. 'versus_mediapipe': MediaPipe's saved landmarks matched and "
                       "scored by hub eval's code, and both pipelines on the hands both find.",
              "datasets": {}}
    truths, ours, theirs = {}, {}, {}
    for name, ann in HAND_SETS.items():
        data = load_annotations(ann, num_keypoints=len(module.meta["keypoints"]))
        detected = evaluate(module, data, keep_matches=True)
        by_box = evaluate(boxed, data, boxes="gt")
        speed = benchmark(module, [im["path"] for im in data["images"]], repeat=args.repeat)
        hands = {(name, i, j): inst for i, im in enumerate(data["images"]) for j, inst in enumerate(im["instances"])
                 if not inst["ignore"]}
        ours_here = keyed(name, detected["matches"])
        report["datasets"][name] = {
            "palm_detector": {**hub_eval_figures(detected), "images_per_s": speed["images_per_s"]},
            "user_box": hub_eval_figures(by_box)}
        if reference and name in reference["datasets"]:
            theirs_here = keyed(name, match_entries(data, mediapipe_entries(data, reference["datasets"][name])))
            report["datasets"][name]["versus_mediapipe"] = {
                **versus_mediapipe(hands, ours_here, theirs_here),
                "mediapipe_images_per_s": reference["datasets"][name]["images_per_s"]}
            truths.update(hands)
            ours.update(ours_here)
            theirs.update(theirs_here)
    if theirs:  # every set together: 32 hands
        report["all_sets_versus_mediapipe"] = {"ours": figures(truths, ours), **versus_mediapipe(truths, ours, theirs)}
    emit_report(json.dumps(report, indent=2), report, args.out)


if __name__ == "__main__":
    main()
