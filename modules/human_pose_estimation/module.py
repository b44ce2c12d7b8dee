"""Multi-person COCO-17 body keypoints: a person detector module + PP-TinyPose on each person crop."""
import numpy as np

from hub_core.keypoint import KeypointModule, crop_instances, image_ranges
from hub_core.nets.tinypose import DECODES, TinyPose
from hub_core.oks_nms import oks_nms

KEYPOINT_SCORE_THRESHOLD = 0.2  # keypoints counted in the instance score (MMPose 'bbox_keypoint' score mode)
CROP_ASPECT = 192 / 256  # PP-TinyPose's input w:h, to which every person box is padded


class HumanPoseEstimation(KeypointModule):
    default_output_dir = "human_pose_output"
    export_folder = "pose"

    def __init__(self, person_detector_module=None, decode="dark", flip_test=False, oks_nms_threshold=None,
                 padding=1.25, detector=None, **kwargs):
        """oks_nms_threshold: drop a pose whose OKS with a higher-scored one of its image exceeds it (None: keep
        all). padding: person box scale about its centre before the crop."""
        if decode not in DECODES:
            raise ValueError(f"decode must be one of {DECODES}, got {decode!r}")
        super().__init__(detector=person_detector_module or detector, **kwargs)
        self.decode = decode
        self.flip_test = bool(flip_test)
        self.oks_nms_threshold = None if oks_nms_threshold is None else float(oks_nms_threshold)
        self.padding = float(padding)
        self.options = {"decode": decode, "flip_test": self.flip_test, "oks_nms_threshold": self.oks_nms_threshold,
                        "padding": self.padding}

    def set_person_detector_module(self, module):
        self.set_detector(module)

    def get_person_detector_module(self):
        return self.detector

    def build_net(self, use_gpu):
        return TinyPose(self.model_path("tinypose_256x192"), self.meta["flip_pairs"], use_gpu, self.threads,
                        padding=self.padding)

    def export_spec(self):
        return {**TinyPose.SPEC, "decode": self.decode, "flip_test": self.flip_test, "padding": self.padding,
                "oks_nms_threshold": self.oks_nms_threshold}

    def entry(self, image, path, det, instances):
        """Duplicate poses (OKS with a higher-scored pose above oks_nms_threshold) are dropped; object areas
        are those of the person crops (box padded to 3:4 and scaled by padding), as MMPose's."""
        if self.oks_nms_threshold is not None and len(instances) > 1:
            det = np.asarray(det)
            w, h = det[:, 2] - det[:, 0], det[:, 3] - det[:, 1]
            crop_w = np.maximum(w, h * CROP_ASPECT) * self.padding
            keep = np.sort(oks_nms(np.stack([i["keypoints"] for i in instances]), [i["score"] for i in instances],
                                   crop_w * crop_w / CROP_ASPECT, self.meta["sigmas"], self.oks_nms_threshold))
            det, instances = det[keep], [instances[i] for i in keep]
        return super().entry(image, path, det, instances)

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
