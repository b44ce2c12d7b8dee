"""How the face module's second-pass crop (REFINE_CROP in modules/face_landmark_localization/module.py) was
fitted: on 300-W AFW only (185 images, 337 faces), detector boxes (RFB-640) and the first pass (flip-averaged)
computed once, images decoded once.

Coordinate descent on mean NME with the flip on: scale over a grid with the shift at 0, then the vertical
shift, then the horizontal shift, then the scale again; each candidate is one batched second pass over
every face. Writes the grid and the chosen values as JSON.

    python benchmarks/fit_face_refinement.py [--out benchmarks/results/fit_face_refinement.json]
"""
import argparse
import json
from pathlib import Path

import cv2

import hub_core as hub
from hub_core.evaluate import emit_report, load_annotations, score_entries
from hub_core.keypoint import image_ranges
from hub_core.refine import landmark_transforms

REPO = Path(__file__).resolve().parents[1]
AFW = REPO.parent / "shared" / "data" / "face" / "300w_afw" / "annotations_68pt_coco.json"
SCALES = [1.1, 1.15, 1.2, 1.25, 1.3, 1.35]
SHIFTS_Y = [-0.1, -0.075, -0.05, -0.025, 0.0, 0.025]
SHIFTS_X = [-0.02, 0.0, 0.02]


def landmarks(module, net, images, transforms, flip):
    module.flip = flip
    return module.landmarks(net, images, transforms)


def nme(data, detections, points, meta):
    """Mean NME and failure rate of points (every face of every image, in detection order) on data."""
    entries = [{"instances": [{"box": d[:4].tolist(), "keypoints": points[i]} for d, i in zip(det, r)]}
               for det, r in zip(detections, image_ranges(detections))]
    _, report = score_entries(data, entries, meta, "face")
    return {k: report[k] for k in ("mean_nme_percent", "failure_rate_percent")}


def descend(best, key, values, axis, run):
    """One coordinate of the descent: run(scale, shift) with the scale (axis None) or shift[axis] set to each
    value, the rest from best; best takes the value of lowest mean NME. Returns {value: result}."""
    results = {}
    for v in values:
        candidate = {"scale": v if axis is None else best["scale"], "shift": list(best["shift"])}
        if axis is not None:
            candidate["shift"][axis] = v
        results[str(v)] = run(candidate["scale"], candidate["shift"])
        print(key, v, results[str(v)], flush=True)
    chosen = float(min(results, key=lambda v: results[v]["mean_nme_percent"]))
    if axis is None:
        best["scale"] = chosen
    else:
        best["shift"][axis] = chosen
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fit_face_refinement.json"))
    args = ap.parse_args()

    data = load_annotations(AFW, num_keypoints=68)
    images = [cv2.imread(im["path"]) for im in data["images"]]
    detector = hub.Module(name="ultra_light_fast_generic_face_detector_1mb_640")
    detections = detector.detect(images)
    # the accurate mode, whose second pass this fits: MobileFaceNet-68 on its own first crop
    module = hub.Module(name="face_landmark_localization", mode="accurate", face_detector_module=detector)
    net = module.net()
    rows = image_ranges(detections)
    first = {flip: landmarks(module, net, images, [net.transforms(d) for d in detections], flip)
             for flip in (False, True)}

    def second_pass(scale, shift):
        transforms = [landmark_transforms(first[True][r], net.size, scale, shift) for r in rows]
        return nme(data, detections, landmarks(module, net, images, transforms, True), module.meta)

    trials = {"one pass": nme(data, detections, first[False], module.meta),
              "one pass + flip": nme(data, detections, first[True], module.meta)}
    best = {"scale": 1.0, "shift": [0.0, 0.0]}

    def search(key, values, axis=None):
        trials[f"second pass + flip, {key}"] = descend(best, key, values, axis, second_pass)

    search("scale", SCALES)
    search("shift_y", SHIFTS_Y, 1)
    search("shift_x", SHIFTS_X, 0)
    search("scale (again)", SCALES)
    report = {"dataset": "300-W AFW (185 images, 337 faces), ../shared/data/face/300w_afw; RFB-640 boxes",
              "method": "coordinate descent on mean NME (flip on): scale, shift_y, shift_x, scale",
              "chosen": best, "chosen_result": second_pass(best["scale"], best["shift"]),
              "trials": trials}
    emit_report(json.dumps(report, indent=2), report, args.out)


if __name__ == "__main__":
    main()
