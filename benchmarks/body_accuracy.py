"""COCO OKS-AP of human_pose_estimation on coco_train_mini through `hub eval` (hub_core.evaluate), with detector
boxes (default and a low-threshold detector) and with ground-truth boxes, DARK and offset decoding, plus
end-to-end speed through `hub benchmark` and ms per person on given boxes. Writes
benchmarks/results/body_accuracy.json.

    python benchmarks/body_accuracy.py [--batch-size 1] [--flip-test] [--low-threshold 0.1] [--oks-nms 0.9]

The default pipeline is the one before modes (YOLOX-nano score > 0.25, no OKS-NMS); benchmarks/modes.py measures
the modes.
"""
import argparse
import json
import os
import time
from pathlib import Path

import hub_core as hub
from hub_core import images as imio
from hub_core.bench import benchmark
from hub_core.evaluate import emit_report, evaluate, load_annotations

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "body" / "coco_train_mini"


def oks(report):
    return {k: report["oks"][k] for k in ("AP", "AP50", "AP75")}


def ms_per_person(module, data, batch_size, people):
    """Keypoints alone on the annotated boxes: images decoded beforehand, one timed pass after a warm-up."""
    images = [imio.load(im["path"], im["path"]) for im in data["images"]]
    boxes = [[inst["box"].tolist() for inst in im["instances"] if not inst["ignore"]] for im in data["images"]]
    module.keypoint_detection(images=images[:2], boxes=boxes[:2], strict=True)
    start = time.perf_counter()
    module.keypoint_detection(images=images, boxes=boxes, batch_size=batch_size, strict=True)
    return round(1000 * (time.perf_counter() - start) / people, 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "body_accuracy.json"))
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--flip-test", action="store_true")
    parser.add_argument("--low-threshold", type=float, default=0.1,
                        help="detector score threshold of the extra COCO-style run (more, weaker boxes)")
    parser.add_argument("--oks-nms", type=float, default=None, help="OKS-NMS threshold of duplicate poses")
    parser.add_argument("--repeat", type=int, default=1, help="timed hub benchmark passes over the set")
    args = parser.parse_args()

    data = load_annotations(Path(args.data) / "annotations" / "person_keypoints_train2017.json",
                            Path(args.data) / "train2017")
    paths = [im["path"] for im in data["images"]]
    low = hub.Module(name="yolox_nano_coco", classes=["person"], score_threshold=args.low_threshold)
    people = sum(not inst["ignore"] for im in data["images"] for inst in im["instances"])
    report = {"dataset": str(args.data), "images": len(paths), "people": people, "flip_test": args.flip_test,
              "oks_nms_threshold": args.oks_nms,
              "batch_size": args.batch_size, "threads": os.environ.get("HUB_NUM_THREADS", "default")}
    for decode in ("dark", "offset"):
        module = hub.Module(name="human_pose_estimation", decode=decode, flip_test=args.flip_test,
                            oks_nms_threshold=args.oks_nms,
                            person_detector_module=hub.Module(name="yolox_nano_coco", classes=["person"]))
        found = evaluate(module, data, batch_size=args.batch_size)
        report["detector"] = {"module": module.detector.name, "thresholds": module.detector.thresholds}
        speed = benchmark(module, paths, args.batch_size, args.repeat)
        report[f"{decode}_detector_boxes"] = {**oks(found), "people_found": found["predicted_instances"],
                                              "images_per_s": speed["images_per_s"]}
        weak = evaluate(hub.Module(name="human_pose_estimation", decode=decode, flip_test=args.flip_test,
                                   oks_nms_threshold=args.oks_nms, person_detector_module=low),
                        data, batch_size=args.batch_size)
        report[f"{decode}_detector_boxes_score_{args.low_threshold}"] = {
            **oks(weak), "people_found": weak["predicted_instances"]}
        given = evaluate(module, data, boxes="gt", batch_size=args.batch_size)
        report[f"{decode}_gt_boxes"] = {**oks(given),
                                        "ms_per_person": ms_per_person(module, data, args.batch_size, people)}
    report["timing"] = (f"images_per_s: hub benchmark, {args.repeat} pass(es) after a warm-up, end to end (decode "
                        "included); ms_per_person: keypoints on the annotated boxes, images decoded beforehand")
    emit_report(json.dumps(report, indent=2), report, args.out)


if __name__ == "__main__":
    main()
