"""`hub benchmark` on every keypoint module with its default images (a small shared/data set each):
per-stage median / p90 ms, images/s, and pipeline time over the models' own time (issue #7's goal: <= 1.25).
Writes benchmarks/results/pipeline_stages.json.

    python benchmarks/pipeline_stages.py [--batch_size 1] [--threads T] [--repeat 3] [--max_images 20]
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hub_core import bench  # noqa: E402
from hub_core.evaluate import emit_report  # noqa: E402

MODULES = ["face_landmark_localization", "hand_pose_localization", "human_pose_estimation",
           "animal_pose_estimation"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", nargs="+", default=MODULES)
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max_images", type=int, default=20)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "pipeline_stages.json"))
    args = parser.parse_args()
    reports = {name: bench.run(name, max_images=args.max_images, batch_size=args.batch_size, threads=args.threads,
                               repeat=args.repeat) for name in args.modules}
    summary = {name: {"images_per_s": r["images_per_s"], "instances_per_image": r["instances_per_image"],
                      "pipeline_ms_per_image": r["pipeline_ms_per_image"],
                      "models_alone_ms_per_image": r["models_alone_ms_per_image"],
                      "pipeline_over_models": r["pipeline_over_models"],
                      "pipeline_over_models_without_decode": r["pipeline_over_models_without_decode"],
                      "folder_over_models": r["folder_over_models"],
                      "median_ms": {stage: s["median_ms"] for stage, s in r["stages_per_image"].items()}}
               for name, r in reports.items()}
    emit_report(json.dumps(summary, indent=2), {"summary": summary, "reports": reports}, args.out)


if __name__ == "__main__":
    main()
