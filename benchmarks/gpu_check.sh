#!/usr/bin/env bash
# ONNX Runtime on CUDA, checked on a machine with an NVIDIA GPU (never part of the test run):
#   1. a fresh virtual environment with this package and onnxruntime-gpu in place of onnxruntime
#      (CUDA 12 / cuDNN 9 from NVIDIA's pip wheels, loaded by onnxruntime.preload_dlls());
#   2. benchmarks/gpu_compare.py: every keypoint module on CPU and on GPU over the same real images,
#      keypoints compared within GPU_CHECK_TOLERANCE_PX (default 1 px);
#   3. hub benchmark --use_gpu at batch 1 and 32 for every keypoint module (64 images, 3 passes).
# Needs ../shared (models and data) beside the checkout, as the tests do. Results: benchmarks/results/gpu_*.json.
# GPU_CHECK_TENSORRT=1 also times the TensorRT provider where the onnxruntime-gpu build has it.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=${GPU_CHECK_VENV:-/tmp/keypoint-hub-gpu-venv}
OUT=${GPU_CHECK_OUT:-$REPO/benchmarks/results}
MODULES="face_landmark_localization hand_pose_localization human_pose_estimation animal_pose_estimation"
PYTHON=${PYTHON:-python3}

[ -d "$REPO/../shared/models" ] || { echo "gpu_check: $REPO/../shared/models not found" >&2; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

start=$(date +%s)
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q -e "$REPO"
"$VENV/bin/pip" uninstall -y -q onnxruntime        # the CPU wheel and the GPU wheel share the onnxruntime package
"$VENV/bin/pip" install -q "onnxruntime-gpu[cuda,cudnn]"
echo "gpu_check: environment ready in $(( $(date +%s) - start )) s"
"$VENV/bin/python" -c "import onnxruntime as o; o.preload_dlls(); print('onnxruntime', o.__version__, o.get_available_providers())"

mkdir -p "$OUT"
status=0
"$VENV/bin/python" "$REPO/benchmarks/gpu_compare.py" --tolerance_px "${GPU_CHECK_TOLERANCE_PX:-1.0}" \
    --out "$OUT/gpu_check.json" || status=1

for module in $MODULES; do
    for batch in 1 32; do
        "$VENV/bin/hub" benchmark "$module" --use_gpu --batch_size "$batch" --max_images 64 --repeat 3 \
            --out "$OUT/gpu_benchmark_${module}_bs${batch}.json" || status=1
        if [ "${GPU_CHECK_TENSORRT:-0}" = 1 ]; then
            HUB_ORT_TENSORRT=1 "$VENV/bin/hub" benchmark "$module" --use_gpu --batch_size "$batch" --max_images 64 \
                --repeat 3 --out "$OUT/gpu_benchmark_${module}_bs${batch}_tensorrt.json" || status=1
        fi
    done
    "$VENV/bin/hub" benchmark "$module" --batch_size 1 --max_images 64 --repeat 3 \
        --out "$OUT/gpu_machine_cpu_${module}_bs1.json" || status=1   # the same machine's CPU, for the ratio
done

"$VENV/bin/python" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
check = json.loads((out / "gpu_check.json").read_text())
print("module | CPU vs GPU keypoints (max / median px) | images/s GPU bs1 | GPU bs32 | same machine CPU bs1")
for name, m in check["modules"].items():
    ips = {}
    for key, f in (("bs1", f"gpu_benchmark_{name}_bs1.json"), ("bs32", f"gpu_benchmark_{name}_bs32.json"),
                   ("cpu", f"gpu_machine_cpu_{name}_bs1.json")):
        p = out / f
        ips[key] = json.loads(p.read_text())["images_per_s"] if p.is_file() else None
    print(f"{name} | {m.get('max_keypoint_difference_px')} / {m.get('median_keypoint_difference_px')} "
          f"({'ok' if m['passed'] else 'FAILED'}) | {ips['bs1']} | {ips['bs32']} | {ips['cpu']}")
PY
exit $status
