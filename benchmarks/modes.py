"""Every keypoint module in every mode (fast / balanced / accurate): accuracy on the shared dev sets through
hub_core.evaluate, and end-to-end speed (file read and decode included, batch 1) with each mode timed as a
ratio to the fast mode in the same run: the modes of a module alternate pass by pass (the order rotated each
pass) and the ratio is taken per pass, then the median.

    face    300-W AFW (185 images, 337 faces): detection rate, mean NME, failure rate (NME > 8%)
    hand    the shared hand sets pooled (CMU HandDB sample, OneHand10K, FreiHAND, Panoptic): PCK@0.2, EPE
    body    coco_train_mini (80 images): OKS-AP with the mode's own detector boxes
    animal  DeepLabCut openfield mouse, the shipped model's 20 test frames: RMSE (px)

    python benchmarks/modes.py [--modules face hand body animal] [--repeat 3] [--speed_images 40]

A run of some modules replaces their figures in the JSON and keeps the others'.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hub_core as hub  # noqa: E402
from hub_core.engine import default_threads  # noqa: E402
from hub_core.evaluate import emit_report, evaluate, load_annotations, score  # noqa: E402
from hub_core.finetune.data import load_samples  # noqa: E402
from hub_core.finetune.train import scores as mouse_scores  # noqa: E402
from hub_core.modes import MODES  # noqa: E402
from hub_core.versions import library_versions  # noqa: E402
from hand_accuracy import HAND_SETS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
AFW = DATA / "face" / "300w_afw" / "annotations_68pt_coco.json"
BODY = DATA / "body" / "coco_train_mini"
MOUSE = DATA / "animal" / "dlc_openfield_mouse" / "examples" / "openfield-Pranav-2018-10-30" / "labeled-data" / "m4s1"
MOUSE_TEST = json.loads((REPO / "benchmarks" / "results" / "finetune_mouse.json").read_text()
                        )["runs"]["pretrained"]["test_frames"]
MODULES = {"face": "face_landmark_localization", "hand": "hand_pose_localization",
           "body": "human_pose_estimation", "animal": "animal_pose_estimation"}
# The default before modes existed, where it differs from every mode: measured alongside, so a mode's speed can
# be read against the README's earlier figures (and PaddleHub's, measured against that default).
PREVIOUS_DEFAULT = {
    "face": {"mode": "accurate", "flip": False, "refine_passes": 0},  # RFB-640, one pass, MobileFaceNet's own crop
    "body": {"mode": "balanced", "oks_nms_threshold": None,
             "person_detector_module": {"name": "yolox_nano_coco", "classes": ["person"], "score_threshold": 0.25}},
}


def face_accuracy(module):
    data = load_annotations(AFW, num_keypoints=68)
    r = evaluate(module, data)
    return {k: r[k] for k in ("detection_rate", "mean_nme_percent", "failure_rate_percent")}, \
        [im["path"] for im in data["images"]]


def hand_accuracy(module):
    truths, preds, paths, hands = [], [], [], 0
    for ann in HAND_SETS.values():
        data = load_annotations(ann, num_keypoints=21)
        r = evaluate(module, data, keep_matches=True)
        hands += r["instances"]
        truths += [data["images"][m["image"]]["instances"][m["instance"]] for m in r["matches"]]
        preds += [np.asarray(m["keypoints"]) for m in r["matches"]]
        paths += [im["path"] for im in data["images"]]
    pooled = score(truths, preds, module.meta, "hand")
    return {"hands": hands, "detected": len(truths), "pck@0.2": pooled["pck@0.2"], "epe_px": pooled["epe_px"]}, paths


def body_accuracy(module):
    data = load_annotations(BODY / "annotations" / "person_keypoints_train2017.json", BODY / "train2017")
    r = evaluate(module, data)
    return {"AP": r["oks"]["AP"], "AP50": r["oks"]["AP50"], "AP75": r["oks"]["AP75"],
            "people_found": r["predicted_instances"]}, [im["path"] for im in data["images"]]


def animal_accuracy(module):
    samples, _, _ = load_samples(MOUSE / "CollectedData_Pranav.csv", MOUSE, module.meta, "image")
    test = [i for i, s in enumerate(samples) if Path(s["path"]).name in MOUSE_TEST]
    paths = [samples[i]["path"] for i in test]
    entries = module.keypoint_detection(paths=paths)
    pred = np.asarray([e["instances"][0]["keypoints"] for e in entries])
    return {k: v for k, v in mouse_scores(pred, samples, test).items() if k in ("rmse_px", "pck@0.1")}, paths


def mouse_test_paths():
    return sorted(str(p) for p in MOUSE.glob("*.png") if p.name in MOUSE_TEST)


SPEED_IMAGES = {  # the images each accuracy run reads, in its order: the first ones are timed
    "face": lambda: [im["path"] for im in load_annotations(AFW, num_keypoints=68)["images"]],
    "hand": lambda: [im["path"] for ann in HAND_SETS.values() for im in load_annotations(ann, num_keypoints=21)["images"]],
    "body": lambda: [im["path"] for im in load_annotations(BODY / "annotations" / "person_keypoints_train2017.json",
                                                           BODY / "train2017")["images"]],
    "animal": mouse_test_paths,
}
ACCURACY = {"face": face_accuracy, "hand": hand_accuracy, "body": body_accuracy, "animal": animal_accuracy}


def recipe(module):
    keys = ("landmark_model", "flip", "refine_passes", "model", "decode", "flip_test", "oks_nms_threshold",
            "padding")
    out = {k: module.options[k] for k in keys if k in module.options}
    det = module.detector
    out["detector"] = {"module": det.name, **{k: v for k, v in getattr(det, "thresholds", {}).items()
                                              if k in ("score_threshold", "variant")}}
    if getattr(det, "variant", None):
        out["detector"]["variant"] = det.variant
    return out


def speed(modules, paths, repeat):
    """images/s per mode (median over passes) and images/s ratio to fast taken pass by pass (median)."""
    for m in modules.values():
        m.keypoint_detection(paths=paths[:2])  # warm-up
    seconds = {mode: [] for mode in modules}
    order = list(modules)
    for p in range(repeat):
        for mode in order[p % len(order):] + order[:p % len(order)]:
            start = time.perf_counter()
            modules[mode].keypoint_detection(paths=paths)
            seconds[mode].append(time.perf_counter() - start)
    return {mode: {"images_per_s": round(len(paths) / statistics.median(s), 1),
                   "speed_vs_fast": round(statistics.median(f / t for f, t in zip(seconds["fast"], s)), 3)}
            for mode, s in seconds.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modules", nargs="+", choices=list(MODULES), default=list(MODULES))
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per mode")
    ap.add_argument("--speed_images", type=int, default=40, help="images of the set timed per pass")
    ap.add_argument("--reuse_accuracy", action="store_true",
                    help="keep the JSON's accuracy of a mode whose recipe is unchanged; time every mode again")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "modes.json"))
    args = ap.parse_args()

    report = {"machine": {"cpus": os.cpu_count(), "threads": default_threads(),
                          "processor": platform.processor() or platform.machine()},
              "libraries": library_versions(),
              "modules": {}}
    timing = (f"end to end (file read + decode + detector + keypoints), batch 1, {args.repeat} passes per mode over "
              f"the first {args.speed_images} images of the set, modes alternating")
    if Path(args.out).is_file():  # a run of some modules replaces those, keeping the others' figures
        report["modules"] = json.loads(Path(args.out).read_text()).get("modules", {})
    lines = []
    for key in args.modules:
        modules = {mode: hub.Module(name=MODULES[key], mode=mode) for mode in MODES}
        if key in PREVIOUS_DEFAULT:
            modules["previous_default"] = hub.Module(name=MODULES[key], **PREVIOUS_DEFAULT[key])
        rows = {}
        known = report["modules"].get(MODULES[key], {}).get("modes", {})
        for mode, module in modules.items():
            if args.reuse_accuracy and known.get(mode, {}).get("recipe") == recipe(module):
                accuracy = known[mode]["accuracy"]
            else:
                accuracy, _ = ACCURACY[key](module)
            rows[mode] = {"recipe": recipe(module), "accuracy": accuracy}
            print(key, mode, accuracy, flush=True)
        for mode, figures in speed(modules, SPEED_IMAGES[key]()[:args.speed_images], args.repeat).items():
            rows[mode].update(figures)
            lines.append(f"{MODULES[key]:<28} {mode:<9} {json.dumps(rows[mode]['accuracy'])}  "
                         f"{figures['images_per_s']} images/s ({figures['speed_vs_fast']}x fast)")
        report["modules"][MODULES[key]] = {"timing": timing, "modes": rows}
        if args.out:  # written after every module: a long run keeps what it measured
            Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    emit_report("\n".join(lines), report, args.out)


if __name__ == "__main__":
    main()
