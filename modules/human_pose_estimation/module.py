"""Multi-person COCO-17 body keypoints: a person detector module + PP-TinyPose on each person crop."""
import numpy as np

from hub_core.keypoint import KeypointModule, crop_instances, image_ranges
from hub_core.module import Module
from hub_core.nets.tinypose import DECODES, TinyPose

DEFAULT_DETECTOR = {"name": "yolox_nano_coco", "classes": ["person"]}
KEYPOINT_SCORE_THRESHOLD = 0.2  # keypoints counted in the instance score (MMPose 'bbox_keypoint' score mode)


class HumanPoseEstimation(KeypointModule):
    name = "human_pose_estimation"
    version = "1.0.0"
    summary = "17 COCO body keypoints per person (YOLOX-nano person boxes + PP-TinyPose 256x192)."
    license = "Apache-2.0 (PaddleDetection PP-TinyPose, YOLOX); code MIT"
    default_detector = DEFAULT_DETECTOR["name"]
    default_output_dir = "human_pose_output"
    export_folder = "pose"
    model_files = {
        "tinypose_256x192": {
            "file": "tinypose_256x192.onnx",
            "sha256": "af98f43dac1b7220b4d5cd514a4ab2bd009deed9e534d8d8d72cfd6b470cd866",
            "size": 5396448,
            "url": None,
            "origin": "guojin-yan/Csharp_and_OpenVINO_deploy_PP-TinyPose@0f6a484 model/tinypose_256_192/ir_fp16 "
                      "(PaddleDetection PP-TinyPose enhance), OpenVINO IR converted to ONNX",
            "license": "Apache-2.0 origin; deploy repo states no licence",
        }
    }

    def __init__(self, person_detector_module=None, decode="dark", flip_test=False, detector=None, **kwargs):
        if decode not in DECODES:
            raise ValueError(f"decode must be one of {DECODES}, got {decode!r}")
        super().__init__(detector=person_detector_module or detector, **kwargs)
        self.decode = decode
        self.flip_test = bool(flip_test)
        self.options = {"decode": decode, "flip_test": self.flip_test}

    @property
    def detector(self):
        if self._detector is None:  # YOLOX sees 80 classes; the default keeps only people
            self._detector = Module(**DEFAULT_DETECTOR, threads=self.threads)
        return self._detector

    def set_person_detector_module(self, module):
        self.set_detector(module)

    def get_person_detector_module(self):
        return self.detector

    def build_net(self, use_gpu):
        return TinyPose(self.model_path("tinypose_256x192"), self.meta["flip_pairs"], use_gpu, self.threads)

    def export_spec(self):
        return {**TinyPose.SPEC, "decode": self.decode, "flip_test": self.flip_test}

    def estimate(self, images, detections, use_gpu=False, decode=None, flip_test=None):
        """Per image, per person box: keypoints (17, 2), keypoint_scores (17,) and an instance score =
        mean of the keypoint scores above 0.2 (0 when none) x box score."""
        net = self.net(use_gpu)
        transforms = [net.transforms(det) for det in detections]
        crops = crop_instances(images, transforms, (net.width, net.height))
        points, scores = net(crops, np.concatenate(transforms),  # every person of the chunk at once
                             decode or self.decode, self.flip_test if flip_test is None else flip_test)
        box_scores = np.concatenate([det[:, 4] for det in detections]) if len(points) else np.zeros(0)
        confident = scores > KEYPOINT_SCORE_THRESHOLD
        keypoint_mean = (scores * confident).sum(1) / np.maximum(confident.sum(1), 1)
        instance_scores = keypoint_mean * box_scores
        return [[{"keypoints": points[i], "keypoint_scores": scores[i], "score": round(float(instance_scores[i]), 4)}
                 for i in rows] for rows in image_ranges(transforms)]
