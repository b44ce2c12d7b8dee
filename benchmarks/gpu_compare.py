"""Every keypoint module on CPU and on CUDA (ONNX Runtime) over the same real images: are the results the same?

Run by benchmarks/gpu_check.sh on a machine with onnxruntime-gpu and an NVIDIA GPU. Per module: the images
whose instance count agrees between the devices, and over their instances the largest and the median
keypoint difference in pixels; a module passes when every image agrees and no keypoint moves more than
--tolerance_px (TF32 convolutions and cuDNN's algorithms round differently from the CPU kernels).
Writes JSON with the library versions and the GPU it ran on.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hub_core as hub  # noqa: E402
from hub_core.bench import default_images  # noqa: E402
from hub_core.evaluate import choose_task  # noqa: E402

MODULES = ["face_landmark_localization", "hand_pose_localization", "human_pose_estimation", "animal_pose_estimation"]


def compare(name, max_images, batch_size, tolerance_px):
    module = hub.Module(name=name)
    paths = default_images(choose_task(module.meta), max_images)
    cpu = module.keypoint_detection(paths=paths, batch_size=batch_size, use_gpu=False)
    gpu = module.keypoint_detection(paths=paths, batch_size=batch_size, use_gpu=True)
    differences, disagree = [], []
    for path, a, b in zip(paths, cpu, gpu):
        if len(a["instances"]) != len(b["instances"]):
            disagree.append({"path": path, "cpu_instances": len(a["instances"]), "gpu_instances": len(b["instances"])})
            continue
        for x, y in zip(a["instances"], b["instances"]):
            differences.append(np.abs(np.subtract(x["keypoints"], y["keypoints"])).max())
    worst = float(max(differences)) if differences else None
    return {"images": len(paths), "instances_compared": len(differences), "images_disagreeing": disagree,
            "max_keypoint_difference_px": worst,
            "median_keypoint_difference_px": float(np.median(differences)) if differences else None,
            "tolerance_px": tolerance_px,
            "passed": not disagree and worst is not None and worst <= tolerance_px}


def versions():
    import onnxruntime as ort
    gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                         capture_output=True, text=True)
    return {"onnxruntime": ort.__version__, "providers": ort.get_available_providers(), "numpy": np.__version__,
            "python": sys.version.split()[0], "gpu": gpu.stdout.strip() or gpu.stderr.strip()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--modules", nargs="+", default=MODULES)
    p.add_argument("--max_images", type=int, default=32)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--tolerance_px", type=float, default=1.0)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "gpu_check.json"))
    args = p.parse_args(argv)
    report = {"versions": versions(), "batch_size": args.batch_size, "modules": {}}
    for name in args.modules:
        try:
            report["modules"][name] = compare(name, args.max_images, args.batch_size, args.tolerance_px)
        except Exception as e:  # noqa: BLE001 - one module's failure is reported, the others still run
            report["modules"][name] = {"passed": False, "error": f"{type(e).__name__}: {e}"}
        print(name, json.dumps(report["modules"][name]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    return 0 if all(m["passed"] for m in report["modules"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
