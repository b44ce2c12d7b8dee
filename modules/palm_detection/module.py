"""MediaPipe palm detector as a hub detector module: hand boxes, plus 7 palm keypoints per hand
(detect_palms) that hand_pose_localization turns into a rotated hand ROI."""
import numpy as np

from hub_core.detector import DetectorModule, Detections
from hub_core.nets.palm import PalmDetector

MEDIAPIPE = "PyPI mediapipe 0.10.14 mediapipe/modules/palm_detection/{}.tflite, converted with tf2onnx 1.17.0 (opset 17)"


class PalmDetection(DetectorModule):
    labels = ["hand"]
    thresholds = {"score_threshold": 0.5, "iou_threshold": 0.3}

    def __init__(self, variant=None, **kwargs):
        if variant is None:  # a reloaded export names its model file only; pick the variant from it
            variant = "lite" if "palm_detection_lite" in (kwargs.get("model_paths") or {}) else "full"
        if variant not in ("full", "lite"):
            raise ValueError(f"variant must be 'full' or 'lite', got {variant!r}")
        super().__init__(**kwargs)
        self.variant = variant
        self.model_key = f"palm_detection_{variant}"

    def build_net(self, use_gpu):
        return PalmDetector(self.model_path(self.model_key), use_gpu, self.threads)

    def detect_palms(self, images, use_gpu=False, **thresholds):
        """Per image a dict: 'boxes' (N,4) x1,y1,x2,y2, 'scores' (N,), 'keypoints' (N,7,2) in image pixels
        (wrist, index/middle/ring/pinky MCP, thumb CMC, thumb MCP), highest score first."""
        return self.net(use_gpu)(images, **{**self.thresholds, **thresholds})

    def detect(self, images, use_gpu=False, **thresholds):
        return [palm_rows(p)[:, :6] for p in self.detect_palms(images, use_gpu, **thresholds)]

    def detections(self, images, use_gpu=False, **thresholds):
        """Hand boxes with their 7 palm keypoints."""
        return [Detections(np.asarray(p["boxes"], np.float32), np.asarray(p["scores"], np.float32),
                           ["hand"] * len(p["scores"]), np.asarray(p["keypoints"], np.float32))
                for p in self.detect_palms(images, use_gpu, **thresholds)]

    def hand_detection(self, images=None, paths=None, batch_size=1, use_gpu=False, output_dir="hand_detection_output",
                       visualization=False, score_threshold=0.5, iou_threshold=None, strict=False):
        """[{'data': [{'left','top','right','bottom','confidence','label'}], 'path', 'image_size'}], one per input."""
        overrides = {"score_threshold": score_threshold}
        if iou_threshold is not None:
            overrides["iou_threshold"] = iou_threshold
        return self.boxes_result(images, paths, batch_size, use_gpu, output_dir, visualization, strict, **overrides)

    def predict(self, images=None, paths=None, **kwargs):
        return self.hand_detection(images, paths, **kwargs)

    def model_files_for_export(self):
        return {self.model_key: self.source_path(self.model_key)}

    def export_spec(self):
        return {**super().export_spec(), "variant": self.variant, **PalmDetector.SPEC}


def palm_rows(palms):
    """(N, 20): x1, y1, x2, y2, score, label 0, then the 7 palm keypoints (x, y) flattened."""
    n = len(palms["scores"])
    return np.concatenate([palms["boxes"], palms["scores"][:, None], np.zeros((n, 1), np.float32),
                           palms["keypoints"].reshape(n, 14)], 1).astype(np.float32)
