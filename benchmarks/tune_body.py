"""How the body modes' detector settings were chosen: on coco_train_mini only (80 images, 86 people),
OKS-AP with detector boxes and OKS-NMS (0.9), for YOLOX-nano and PP-PicoDet pedestrian boxes over detector score
thresholds; then, at the best, without OKS-NMS, the person-box expansion (padding) and flip_test.
Each detector runs once at a low threshold; higher thresholds filter its boxes (greedy NMS is unchanged by
that). Writes the whole grid as JSON.

    python benchmarks/tune_body.py [--out benchmarks/results/tune_body.json]
"""
import argparse
import contextlib
import io
import json
from pathlib import Path

from pycocotools.coco import COCO

import hub_core as hub
from hub_core import images as imio, metrics
from hub_core.coco import to_coco_results
from hub_core.evaluate import emit_report, load_annotations

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "body" / "coco_train_mini"
DETECTORS = {"yolox_nano_coco": {"classes": ["person"]}, "picodet_s_320_pedestrian": {}}
THRESHOLDS = [0.05, 0.15, 0.3]
PADDINGS = [1.2, 1.3]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "tune_body.json"))
    args = ap.parse_args()
    data = load_annotations(DATA / "annotations" / "person_keypoints_train2017.json", DATA / "train2017")
    images = [imio.load(im["path"], im["path"]) for im in data["images"]]
    ids = [im["id"] for im in data["images"]]
    coco = COCO()
    coco.dataset = data["coco"]
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()

    def ap_of(boxes, padding=1.25, **options):
        module = hub.Module(name="human_pose_estimation", decode="dark", padding=padding, **options)
        entries = module.keypoint_detection(images=images, boxes=boxes, batch_size=8)
        result = metrics.oks_ap(coco, to_coco_results(entries, ids), module.meta["sigmas"])
        return {k: round(result[k], 4) for k in ("AP", "AP50", "AP75", "AR")}

    report = {"dataset": str(DATA), "grid": {}}
    best = None
    for name, options in DETECTORS.items():
        detector = hub.Module(name=name, **options, score_threshold=min(THRESHOLDS))
        found = detector.detect(images)
        for threshold in THRESHOLDS:
            boxes = [d[d[:, 4] >= threshold, :5].tolist() for d in found]
            r = ap_of(boxes, oks_nms_threshold=0.9)
            report["grid"][f"{name} score>={threshold}"] = r
            print(name, threshold, r, flush=True)
            if best is None or r["AP"] > best[0]["AP"]:
                best = (r, name, threshold, boxes)
    r, name, threshold, boxes = best
    nms = 0.9
    report["best_detector"] = {"detector": name, "score_threshold": threshold, "oks_nms_threshold": nms, **r}
    report["best_without_oks_nms"] = ap_of(boxes, oks_nms_threshold=None)
    report["padding"] = {"1.25": r, **{str(p): ap_of(boxes, oks_nms_threshold=nms, padding=p) for p in PADDINGS}}
    print(report["padding"], flush=True)
    padding = max(report["padding"], key=lambda p: report["padding"][p]["AP"])
    report["best_padding"] = float(padding)
    report["best_with_flip_test"] = ap_of(boxes, oks_nms_threshold=nms, padding=float(padding), flip_test=True)
    emit_report(json.dumps(report, indent=2), report, args.out)


if __name__ == "__main__":
    main()
