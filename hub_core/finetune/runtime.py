"""The module class that `hub finetune` output (and animal_pose_estimation) run on: a detector module finds
the instances (the whole image for single-animal set-ups), a top-down ONNX keypoint model places the points.
No torch here: modules built by `hub finetune` run on ONNX Runtime only."""
import numpy as np

from .. import store
from ..keypoint import KeypointModule, crop_instances, image_ranges
from ..module import Module
from ..nets.tinypose import DECODES
from ..nets.topdown_pose import TopDownPose

# COCO's animal classes: what yolox_nano_coco keeps when it is the animal detector.
ANIMAL_CLASSES = ["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"]
WHOLE_IMAGE = "whole_image_detector"


def detector_module(name, threads=None):
    """A detector module by name; yolox_nano_coco comes restricted to the animal classes."""
    if name == "yolox_nano_coco":
        return Module(name=name, classes=ANIMAL_CLASSES, threads=threads)
    return Module(name=name, threads=threads)


class FinetunedKeypointModule(KeypointModule):
    """Subclasses set crop_padding; module.json gives model_files {'keypoint': spec} and default_detector.

    Model files are looked up in <module>/models/ first (where `hub finetune` writes them), then in the store."""
    default_output_dir = "animal_pose_output"
    export_folder = "keypoint"
    crop_padding = 1.0  # box scale about its centre before the crop (1.0: the detector box as is)

    def __init__(self, detector=None, decode="dark", flip_test=False, model_paths=None, threads=None,
                 backend="onnxruntime"):
        if decode not in DECODES:
            raise ValueError(f"decode must be one of {DECODES}, got {decode!r}")
        super().__init__(detector=detector, model_paths=model_paths, threads=threads, backend=backend)
        self.decode = decode
        self.flip_test = bool(flip_test)
        self.options = {"decode": decode, "flip_test": self.flip_test}

    def set_detector(self, module):
        super().set_detector(detector_module(module, self.threads) if isinstance(module, str) else module)

    def source_path(self, key):
        if key not in self._model_paths and key in self.model_files:
            shipped = self.directory / "models" / self.model_files[key]["file"]
            if shipped.is_file() and store.sha256_of(shipped) == self.model_files[key]["sha256"]:
                return shipped
        return super().source_path(key)

    def build_net(self, use_gpu):
        net = TopDownPose(self.model_path("keypoint"), self.meta.get("flip_pairs", []), use_gpu, self.threads,
                          padding=self.crop_padding)
        k = len(self.meta["keypoints"])
        if net.num_keypoints not in (None, k):
            raise ValueError(f"{self.name}: the keypoint model predicts {net.num_keypoints} keypoints, its meta "
                             f"names {k}")
        return net

    def export_spec(self):
        return {"input": f"detector box scaled {self.crop_padding} about its centre, padded to the model input's "
                         "aspect, affine-warped to the input size (bilinear, black border); RGB, (x/255 - ImageNet "
                         "mean) / ImageNet std, NCHW float32",
                "output": "heatmaps (N, K, H, W) or SimCC (N, K, Wx), (N, K, Hy), told apart by rank",
                "decoding": "heatmaps: argmax + DARK or 0.25-cell offset, x stride; SimCC: argmax / split ratio; "
                            "inverse affine to the image; score = map maximum (SimCC: lower of the two)",
                "decode": self.decode, "flip_test": self.flip_test, "padding": self.crop_padding}

    def estimate(self, images, detections, use_gpu=False, decode=None, flip_test=None):
        """Per image, per box: keypoints (K, 2), keypoint_scores (K,), score = mean keypoint score x box score."""
        net = self.net(use_gpu)
        transforms = [net.transforms(det) for det in detections]
        crops = crop_instances(images, transforms, (net.width, net.height))
        points, scores = net(crops, np.concatenate(transforms),
                             decode or self.decode, self.flip_test if flip_test is None else flip_test)
        box_scores = np.concatenate([det[:, 4] for det in detections]) if len(points) else np.zeros(0)
        instance_scores = scores.mean(1) * box_scores if len(points) else np.zeros(0)
        return [[{"keypoints": points[i], "keypoint_scores": scores[i], "score": round(float(instance_scores[i]), 4)}
                 for i in rows] for rows in image_ranges(transforms)]
