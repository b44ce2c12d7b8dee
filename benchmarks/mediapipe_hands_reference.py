"""MediaPipe Hands (the reference #4 compares against) on the hand sets of hand_accuracy.py: its
landmarks per image and its speed, written to benchmarks/results/mediapipe_hands_reference.json so that
hand_accuracy.py can score both pipelines on the same hands. MediaPipe is not a dependency of the hub:
run this in a separate environment that has it, e.g.

    python -m venv /tmp/mp && /tmp/mp/bin/pip install mediapipe==0.10.14
    /tmp/mp/bin/python benchmarks/mediapipe_hands_reference.py

Settings: static_image_mode=True, max_num_hands=2, model_complexity=1 (full palm + landmark models),
min_detection_confidence=0.5 - the Python solution's defaults for still images. One inference thread
(MediaPipe's Python API). Speed: 3 timed passes over each set after one untimed pass.
"""
import json
import sys
import time
from pathlib import Path

import cv2
import mediapipe as mp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hand_accuracy import hand_sets  # noqa: E402

OUT = Path(__file__).parent / "results" / "mediapipe_hands_reference.json"


def main():
    report = {"mediapipe": mp.__version__,
              "settings": {"static_image_mode": True, "max_num_hands": 2, "model_complexity": 1,
                           "min_detection_confidence": 0.5},
              "datasets": {}}
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=1,
                                  min_detection_confidence=0.5) as hands:
        for name, samples in hand_sets().items():
            paths = sorted({s["path"] for s in samples})
            images = [cv2.cvtColor(cv2.imread(p), cv2.COLOR_BGR2RGB) for p in paths]
            per_image = {}
            for path, image in zip(paths, images):
                h, w = image.shape[:2]
                found = hands.process(image)
                per_image[Path(path).name] = [
                    {"keypoints": [[round(p.x * w, 3), round(p.y * h, 3)] for p in lm.landmark],
                     "label": hd.classification[0].label, "score": round(hd.classification[0].score, 4)}
                    for lm, hd in zip(found.multi_hand_landmarks or [], found.multi_handedness or [])]
            start = time.perf_counter()
            for _ in range(3):
                for image in images:
                    hands.process(image)
            report["datasets"][name] = {"images_per_s": round(3 * len(images) / (time.perf_counter() - start), 1),
                                        "hands": per_image}
            print(name, report["datasets"][name]["images_per_s"], "images/s", file=sys.stderr)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
