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
from hub_core.evaluate import emit_report, load_annotations, match_entries, score
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fit_face_refinement.json"))
    args = ap.parse_args()

    data = load_annotations(AFW, num_keypoints=68)
    images = [cv2.imread(im["path"]) for im in data["images"]]
    detector = hub.Module(name="ultra_light_fast_generic_face_detector_1mb_640")
    detections = detector.detect(images)
    module = hub.Module(name="face_landmark_localization", face_detector_module=detector, flip=True)
    net = module.net()
    rows = image_ranges(detections)
    first = {flip: landmarks(module, net, images, [net.transforms(d) for d in detections], flip)
             for flip in (False, True)}

    def nme(points):
        entries = [{"instances": [{"box": d[:4].tolist(), "keypoints": points[i]} for d, i in zip(det, r)]}
                   for det, r in zip(detections, rows)]
        matches = match_entries(data, entries)
        truths = [data["images"][m["image"]]["instances"][m["instance"]] for m in matches]
        report = score(truths, [m["keypoints"] for m in matches], module.meta, "face")
        return {k: report[k] for k in ("mean_nme_percent", "failure_rate_percent")}

    def second_pass(scale, shift):
        transforms = [landmark_transforms(first[True][r], net.size, scale, shift) for r in rows]
        return nme(landmarks(module, net, images, transforms, True))

    trials = {"one pass": nme(first[False]), "one pass + flip": nme(first[True])}
    best = {"scale": 1.0, "shift": [0.0, 0.0]}

    def search(key, values, axis=None):
        results = {}
        for v in values:
            candidate = {**best, "shift": list(best["shift"])}
            if axis is None:
                candidate["scale"] = v
            else:
                candidate["shift"][axis] = v
            r = second_pass(candidate["scale"], candidate["shift"])
            results[str(v)] = r
            print(key, v, r, flush=True)
        chosen = min(results, key=lambda v: results[v]["mean_nme_percent"])
        if axis is None:
            best["scale"] = float(chosen)
        else:
            best["shift"][axis] = float(chosen)
        trials[f"second pass + flip, {key}"] = results

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
