"""`hub benchmark` of every keypoint module on ONNX Runtime (the default) and on Paddle Inference
(`--backend paddle`), side by side on the same images, threads and batch size. The two runs of a module
follow each other, in alternating order from module to module; the ratio is Paddle's ms per image over
ONNX Runtime's. A module whose graphs do not convert gets its error instead of figures.
Needs the [paddle] extra and the converter environment. Writes benchmarks/results/paddle_vs_onnxruntime.json.

    python benchmarks/paddle_vs_onnxruntime.py [--batch_size 1] [--repeat 3] [--max_images 10]
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hub_core import bench  # noqa: E402
from hub_core.evaluate import emit_report  # noqa: E402

MODULES = ["face_landmark_localization", "hand_pose_localization", "human_pose_estimation",
           "animal_pose_estimation"]
BACKENDS = ("onnxruntime", "paddle")


def measure(name, backend, args):
    start = time.perf_counter()
    try:
        report = bench.run(name, max_images=args.max_images, batch_size=args.batch_size, threads=args.threads,
                           repeat=args.repeat, backend=backend)
    except Exception as e:  # noqa: BLE001 - an unconvertible graph is a result too
        return {"error": f"{type(e).__name__}: {e}"}
    return {"images_per_s": report["images_per_s"], "pipeline_ms_per_image": report["pipeline_ms_per_image"],
            "models_alone_ms_per_image": report["models_alone_ms_per_image"],
            "median_ms": {stage: s["median_ms"] for stage, s in report["stages_per_image"].items()},
            "instances_per_image": report["instances_per_image"],
            "load_and_run_s": round(time.perf_counter() - start, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", nargs="+", default=MODULES)
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max_images", type=int, default=10)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "paddle_vs_onnxruntime.json"))
    args = parser.parse_args()
    results = {}
    for i, name in enumerate(args.modules):
        order = BACKENDS if i % 2 == 0 else BACKENDS[::-1]
        results[name] = {backend: measure(name, backend, args) for backend in order}
        ort, paddle = results[name]["onnxruntime"], results[name]["paddle"]
        if "error" not in ort and "error" not in paddle:
            results[name]["paddle_over_onnxruntime"] = round(paddle["pipeline_ms_per_image"] /
                                                             ort["pipeline_ms_per_image"], 2)
            results[name]["paddle_over_onnxruntime_models_alone"] = round(
                paddle["models_alone_ms_per_image"] / ort["models_alone_ms_per_image"], 2)
        print(name, json.dumps(results[name]), flush=True)
    lines = ["| module | ONNX Runtime images/s | Paddle Inference images/s | Paddle / ORT ms per image | models alone |",
             "|---|---|---|---|---|"]
    for name, r in results.items():
        cells = [str(r[b].get("images_per_s", r[b].get("error", "")[:80])) for b in BACKENDS]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {r.get('paddle_over_onnxruntime', '-')} | "
                     f"{r.get('paddle_over_onnxruntime_models_alone', '-')} |")
    settings = {"batch_size": args.batch_size, "repeat": args.repeat, "max_images": args.max_images,
                "threads": args.threads or bench.default_threads()}
    emit_report("\n".join(lines), {"settings": settings, "modules": results}, args.out)


if __name__ == "__main__":
    main()
