"""PaddleHub's face_landmark_localization pipeline, reproduced step by step, timed side by side with ours.

PaddleHub 2.x's module (modules/image/keypoint_detection/face_landmark_localization: data_feed.py, module.py,
processor.py): UltraLight RFB-640 boxes (confs_threshold 0.5, IoU 0.5) -> each box clipped to the image, tight
(not squared) -> grey, 60x60 bicubic, the crop's own mean/std -> the 60x60 landmark network one face per call
(PaddleHub's batch_size=1 batches faces, not images) -> 136 outputs relative to the box.

PaddleHub's Paddle files cannot be fetched here (no model-hub access), so the same networks are rebuilt: the
detector is our UltraLight-640 module (the same RFB-640 graph and thresholds), run on Paddle Inference as PaddleHub
runs it (backend="paddle", when paddlepaddle is installed) and on ONNX Runtime; the landmark network is its
original Caffe weights (../shared/models/reference) on OpenCV's DNN (a 60x60 network: a small share of the time).

Both pipelines read and decode each file (end to end, batch 1) and alternate image set by image set; the speed
ratio is taken per pass, then the median. Accuracy of the reproduction (NME, failure rate on AFW) checks it
against PaddleHub's published behaviour.

OpenCV 5 dropped the Caffe importer, so run it in an environment with OpenCV 4:
    python -m venv /tmp/ph && /tmp/ph/bin/pip install -e . "opencv-python-headless<5"
    /tmp/ph/bin/pip install paddlepaddle==3.3.1   # optional: the detector on Paddle Inference too
    /tmp/ph/bin/python benchmarks/paddlehub_face_pipeline.py [--repeat 5] [--speed_images 40]
"""
import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

import hub_core as hub
from hub_core.evaluate import emit_report, load_annotations, score_entries
from hub_core.versions import library_versions

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
AFW = SHARED / "data" / "face" / "300w_afw" / "annotations_68pt_coco.json"
VANFACE = SHARED / "models" / "reference"


class PaddleHubFaceLandmarks:
    """PaddleHub's face_landmark_localization recipe: detector boxes, tight grey 60x60 crops, one face per call."""

    def __init__(self, backend):
        self.detector = hub.Module(name="ultra_light_fast_generic_face_detector_1mb_640", backend=backend,
                                   score_threshold=0.5, iou_threshold=0.5)
        self.net = cv2.dnn.readNetFromCaffe(str(VANFACE / "landmark_deploy.prototxt"),
                                            str(VANFACE / "VanFace.caffemodel"))

    def faces(self, image):
        (found,) = self.detector.face_detection(images=[image])
        height, width = image.shape[:2]
        faces = []
        for face in found["data"]:
            x1, y1 = max(int(face["left"]), 0), max(int(face["top"]), 0)
            x2, y2 = min(int(face["right"]), width), min(int(face["bottom"]), height)
            grey = cv2.cvtColor(image[y1:y2 + 1, x1:x2 + 1], cv2.COLOR_RGB2GRAY)  # sic: PaddleHub converts its BGR image as RGB
            grey = cv2.resize(grey, (60, 60), interpolation=cv2.INTER_CUBIC).astype(np.float32)
            mean, std = cv2.meanStdDev(grey)
            self.net.setInput(((grey - mean[0, 0]) / (1e-6 + std[0, 0]))[None, None])
            points = self.net.forward().reshape(68, 2) * (x2 - x1, y2 - y1) + (x1, y1)
            faces.append({"keypoints": points, "box": [x1, y1, x2, y2]})
        return faces


def nme_report(data, predict, meta):
    entries = [{"instances": predict(cv2.imread(str(im["path"])))} for im in data["images"]]
    matches, report = score_entries(data, entries, meta, "face")
    total = sum(not inst["ignore"] for im in data["images"] for inst in im["instances"])
    return {"detection_rate": round(len(matches) / total, 4),
            **{k: report[k] for k in ("mean_nme_percent", "failure_rate_percent")}}


def timed_pass(paths, predict):
    start = time.perf_counter()
    for path in paths:
        predict(cv2.imread(str(path)))
    return len(paths) / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed passes per pipeline, alternating")
    parser.add_argument("--speed_images", type=int, default=40, help="AFW images per timed pass")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "paddlehub_face_pipeline.json"))
    args = parser.parse_args(argv)

    if not hasattr(cv2.dnn, "readNetFromCaffe"):
        sys.exit(f"OpenCV {cv2.__version__} has no Caffe importer: run this with opencv-python-headless<5")
    data = load_annotations(AFW, num_keypoints=68)
    pipelines = {"paddlehub_recipe": PaddleHubFaceLandmarks("onnxruntime").faces}
    if importlib.util.find_spec("paddle"):
        pipelines["paddlehub_recipe_paddle_inference"] = PaddleHubFaceLandmarks("paddle").faces
    for mode in ("fast", "balanced", "accurate"):
        module = hub.Module(name="face_landmark_localization", mode=mode)
        pipelines[f"ours_{mode}"] = lambda image, module=module: module.keypoint_detection(images=[image])[0]["instances"]

    meta = module.meta  # every mode's: 68 iBUG points
    accuracy = {name: nme_report(data, predict, meta) for name, predict in pipelines.items()}
    paths = [im["path"] for im in data["images"][:args.speed_images]]
    for predict in pipelines.values():
        timed_pass(paths[:3], predict)  # warm-up
    speeds = {name: [] for name in pipelines}
    for turn in range(args.repeat):
        names = list(pipelines)
        for name in names[turn % len(names):] + names[:turn % len(names)]:  # rotate who goes first
            speeds[name].append(timed_pass(paths, pipelines[name]))
    references = [name for name in pipelines if name.startswith("paddlehub")]
    report = {
        "what": "AFW end to end (read + decode + detector + landmarks), batch 1, pipelines alternating pass by pass; "
                "speed_vs_<reference>: the median over passes of the ratio of images/s in the same pass",
        "images": len(data["images"]), "speed_images": len(paths), "repeat": args.repeat,
        "libraries": library_versions(),
        "pipelines": {name: {**accuracy[name], "images_per_s": round(statistics.median(speeds[name]), 1),
                             "images_per_s_per_pass": [round(s, 2) for s in speeds[name]],
                             **{f"speed_vs_{ref}": round(statistics.median(s / r for s, r in zip(speeds[name],
                                                                                               speeds[ref])), 3)
                                for ref in references}} for name in pipelines}}
    table = "\n".join(f"{name:34s} NME {r['mean_nme_percent']:.2f}%  failure {r['failure_rate_percent']:.1f}%  "
                      f"{r['images_per_s']:5.1f} images/s  "
                      + "  ".join(f"{r[f'speed_vs_{ref}']:.2f}x {ref}" for ref in references)
                      for name, r in report["pipelines"].items())
    emit_report(table, report, args.out)


if __name__ == "__main__":
    main()
