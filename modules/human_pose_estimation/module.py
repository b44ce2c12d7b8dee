"""Multi-person COCO-17 body keypoints: a person detector module + PP-TinyPose on each person crop."""
from hub_core.keypoint import KeypointModule
from hub_core.nets import tinypose

KEYPOINT_SCORE_THRESHOLD = 0.2  # keypoints counted in the instance score (MMPose 'bbox_keypoint' score mode)


class HumanPoseEstimation(KeypointModule):
    default_output_dir = "human_pose_output"
    export_folder = "pose"
    crop_padding = tinypose.PADDING

    def __init__(self, person_detector_module=None, decode="dark", flip_test=False, detector=None, **kwargs):
        super().__init__(detector=person_detector_module or detector, decode=decode, flip_test=bool(flip_test),
                         **kwargs)

    def set_person_detector_module(self, module):
        self.set_detector(module)

    def get_person_detector_module(self):
        return self.detector

    def export_spec(self):
        return {**tinypose.SPEC, **self.options}

    def instance_scores(self, keypoint_scores, box_scores):
        """Mean of the keypoint scores above 0.2 (0 when none) x box score."""
        confident = keypoint_scores > KEYPOINT_SCORE_THRESHOLD
        return (keypoint_scores * confident).sum(1) / (confident.sum(1).clip(1)) * box_scores
