"""COCO OKS-AP of human_pose_estimation on coco_train_mini, with detector boxes and with ground-truth
boxes, DARK and offset decoding, plus end-to-end speed. Writes benchmarks/results/body_accuracy.json."""
import argparse
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

import cv2
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hub_core as hub  # noqa: E402
from hub_core.coco import to_coco_results  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "body" / "coco_train_mini"


def oks_ap(coco, results):
    if not results:
        return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco, coco.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"AP": round(float(ev.stats[0]), 4), "AP50": round(float(ev.stats[1]), 4), "AP75": round(float(ev.stats[2]), 4)}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "body_accuracy.json"))
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--flip-test", action="store_true")
    parser.add_argument("--low-threshold", type=float, default=0.1,
                        help="detector score threshold of the extra COCO-style run (more, weaker boxes)")
    args = parser.parse_args()

    data = Path(args.data)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(data / "annotations" / "person_keypoints_train2017.json"))
    ids = sorted(coco.getImgIds())
    images = [cv2.imread(str(data / "train2017" / coco.imgs[i]["file_name"])) for i in ids]
    gt_boxes = []
    for i in ids:
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=i)) if a["num_keypoints"] > 0 and not a["iscrowd"]]
        gt_boxes.append([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3], 1.0]
                         for a in anns])

    module = hub.Module(name="human_pose_estimation", flip_test=args.flip_test)
    low = hub.Module(name="yolox_nano_coco", classes=["person"], score_threshold=args.low_threshold)
    report = {"dataset": str(data), "images": len(ids),
              "people": sum(len(b) for b in gt_boxes), "flip_test": args.flip_test, "batch_size": args.batch_size,
              "threads": os.environ.get("HUB_NUM_THREADS", "default"),
              "detector": {"module": "yolox_nano_coco", "thresholds": module.detector.thresholds}}
    module.keypoint_detection(images=images[:2], strict=True)  # warm-up: sessions built, first runs done
    for decode in ("dark", "offset"):
        start = time.perf_counter()
        entries = module.keypoint_detection(images=images, batch_size=args.batch_size, decode=decode, strict=True)
        seconds = time.perf_counter() - start
        report[f"{decode}_detector_boxes"] = {**oks_ap(coco, to_coco_results(entries, ids)),
                                              "people_found": sum(len(e["instances"]) for e in entries),
                                              "images_per_s": round(len(ids) / seconds, 2)}
        default_detector = module.detector
        module.set_person_detector_module(low)
        entries = module.keypoint_detection(images=images, batch_size=args.batch_size, decode=decode, strict=True)
        module.set_person_detector_module(default_detector)
        report[f"{decode}_detector_boxes_score_{args.low_threshold}"] = {
            **oks_ap(coco, to_coco_results(entries, ids)), "people_found": sum(len(e["instances"]) for e in entries)}
        start = time.perf_counter()
        entries = module.keypoint_detection(images=images, batch_size=args.batch_size, boxes=gt_boxes,
                                            decode=decode, strict=True)
        seconds = time.perf_counter() - start
        report[f"{decode}_gt_boxes"] = {**oks_ap(coco, to_coco_results(entries, ids)),
                                        "ms_per_person": round(1000 * seconds / report["people"], 2)}

    text = json.dumps(report, indent=1)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
