"""Multi-person COCO-17 body keypoints: a person detector module + PP-TinyPose on each person crop."""
import numpy as np

from hub_core.keypoint import KeypointModule
from hub_core.nets import tinypose
from hub_core.oks_nms import oks_nms

KEYPOINT_SCORE_THRESHOLD = 0.2  # keypoints counted in the instance score (MMPose 'bbox_keypoint' score mode)
CROP_ASPECT = 192 / 256  # PP-TinyPose's input w:h, to which every person box is padded


class HumanPoseEstimation(KeypointModule):
    default_output_dir = "human_pose_output"
    export_folder = "pose"
    crop_padding = tinypose.PADDING

    def __init__(self, person_detector_module=None, decode="dark", flip_test=False, oks_nms_threshold=None,
                 padding=tinypose.PADDING, detector=None, **kwargs):
        """oks_nms_threshold: drop a pose whose OKS with a higher-scored one of its image exceeds it (None: keep
        all). padding: person box scale about its centre before the crop."""
        super().__init__(detector=person_detector_module or detector, decode=decode, flip_test=bool(flip_test),
                         **kwargs)
        self.oks_nms_threshold = None if oks_nms_threshold is None else float(oks_nms_threshold)
        self.crop_padding = self.padding = float(padding)
        self.options.update({"oks_nms_threshold": self.oks_nms_threshold, "padding": self.padding})

    def set_person_detector_module(self, module):
        self.set_detector(module)

    def get_person_detector_module(self):
        return self.detector

    def export_spec(self):
        return {**tinypose.SPEC, **self.options}

    def finish(self, det, instances):
        """Duplicate poses (OKS with a higher-scored pose above oks_nms_threshold) are dropped; object areas
        are those of the person crops (box padded to 3:4 and scaled by padding), as MMPose's."""
        if self.oks_nms_threshold is not None and len(instances) > 1:
            w, h = det.boxes[:, 2] - det.boxes[:, 0], det.boxes[:, 3] - det.boxes[:, 1]
            crop_w = np.maximum(w, h * CROP_ASPECT) * self.padding
            keep = np.sort(oks_nms(np.stack([i["keypoints"] for i in instances]), [i["score"] for i in instances],
                                   crop_w * crop_w / CROP_ASPECT, self.meta["sigmas"], self.oks_nms_threshold))
            det, instances = det.take(keep), [instances[i] for i in keep]
        return det, instances

    def instance_scores(self, keypoint_scores, box_scores):
        """Mean of the keypoint scores above 0.2 (0 when none) x box score."""
        confident = keypoint_scores > KEYPOINT_SCORE_THRESHOLD
        return (keypoint_scores * confident).sum(1) / (confident.sum(1).clip(1)) * box_scores
