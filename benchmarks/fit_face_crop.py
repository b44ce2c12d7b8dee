"""How the face module's crop around a face box (LANDMARK_MODELS[...]["crop"] in
modules/face_landmark_localization/module.py) was fitted, per landmark network: on 300-W AFW only (185 images,
337 faces), RFB-320 boxes computed once, images decoded once.

Each landmark network was trained on crops around its author's face boxes; UltraLight's boxes sit higher on
the face and are framed differently, so the square crop around them (side = max(w, h) x scale, centre shifted by
shift x side) is fitted per network. Coordinate descent on mean NME of one pass without the flip: scale over a
grid with the shift at 0, then the vertical shift, then the horizontal shift, then the scale and the vertical
shift again; each candidate is one batched pass over every face. Writes the grids, the chosen values, and the
chosen crop's result with the flip too.

    python benchmarks/fit_face_crop.py [--models mobilefacenet_68 pfld_68] [--out ...fit_face_crop.json]
"""
import argparse
import json
import sys
from pathlib import Path

import cv2

import hub_core as hub
from hub_core.evaluate import emit_report, load_annotations

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fit_face_refinement import descend, nme  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
AFW = REPO.parent / "shared" / "data" / "face" / "300w_afw" / "annotations_68pt_coco.json"
DETECTOR = "ultra_light_fast_generic_face_detector_1mb_320"
SCALES = [0.9, 0.95, 1.0, 1.05, 1.1, 1.15]
SHIFTS_Y = [0.0, 0.025, 0.05, 0.075, 0.1, 0.125]
SHIFTS_X = [-0.025, 0.0, 0.025]


def fit(landmark_model, data, images, detections):
    module = hub.Module(name="face_landmark_localization", landmark_model=landmark_model, flip=False)
    net = module.net()
    trained = {**net.crop, **sys.modules[type(module).__module__].LANDMARK_MODELS[landmark_model]["trained_crop"]}

    def one_pass(scale, shift, flip=False):
        net.crop = {**trained, "scale": scale, "shift": tuple(shift)}
        module.flip = flip
        return nme(data, detections, module.landmarks(net, images, [net.transforms(d) for d in detections]), module.meta)

    best = {"scale": trained["scale"], "shift": [0.0, 0.0]}
    trials = {"trained crop": one_pass(best["scale"], best["shift"]),
              "trained crop + flip": one_pass(best["scale"], best["shift"], flip=True)}

    def search(key, values, axis=None):
        trials[key] = descend(best, f"{landmark_model} {key}", values, axis, one_pass)

    search("scale", SCALES)
    search("shift_y", SHIFTS_Y, 1)
    search("shift_x", SHIFTS_X, 0)
    search("scale (again)", SCALES)
    search("shift_y (again)", SHIFTS_Y, 1)
    return {"trained_crop": {"scale": trained["scale"], "shift": list(trained.get("shift", (0, 0)))},
            "chosen": best, "chosen_result": one_pass(best["scale"], best["shift"]),
            "chosen_result_with_flip": one_pass(best["scale"], best["shift"], flip=True), "trials": trials}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mobilefacenet_68", "pfld_68"])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "fit_face_crop.json"))
    args = ap.parse_args()

    data = load_annotations(AFW, num_keypoints=68)
    images = [cv2.imread(im["path"]) for im in data["images"]]
    detections = hub.Module(name=DETECTOR).detect(images)
    report = {"dataset": "300-W AFW (185 images, 337 faces), ../shared/data/face/300w_afw; RFB-320 boxes",
              "method": "coordinate descent on mean NME of one pass (no flip): scale, shift_y, shift_x, scale, shift_y",
              "models": {m: fit(m, data, images, detections) for m in args.models}}
    emit_report(json.dumps({m: {k: r[k] for k in ("chosen", "chosen_result", "chosen_result_with_flip")}
                            for m, r in report["models"].items()}, indent=2), report, args.out)


if __name__ == "__main__":
    main()
