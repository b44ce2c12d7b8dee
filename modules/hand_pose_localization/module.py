"""21 hand keypoints per hand: MediaPipe's palm detector (swappable) + MediaPipe's hand landmark network.

Palm detections carry 7 palm keypoints, so each hand ROI is rotated upright as MediaPipe does it.
Any other detector (or user boxes) gives plain boxes: those get an upright square ROI, and the
landmarks of that first pass define a rotated ROI for a second pass (MediaPipe's tracking ROI).
"""
from dataclasses import replace

import numpy as np

from hub_core.hand3d import depths_in_image_pixels, world_in_image_frame
from hub_core.keypoint import KeypointModule, crop_instances, image_ranges
from hub_core.nets.hand_landmark import HandLandmark, box_rois, landmark_rois, palm_rois, roi_corners

MEDIAPIPE = "PyPI mediapipe 0.10.14 mediapipe/modules/hand_landmark/{}.tflite, converted with tf2onnx 1.17.0 (opset 17)"


class HandPoseLocalization(KeypointModule):
    default_output_dir = "hand_pose_output"
    export_folder = "hand_landmark"
    call_options = {}

    def __init__(self, hand_detector_module=None, model="full", max_hands=2, min_presence=0.5, box_scale=1.5,
                 refine_passes=0, detector=None, **kwargs):
        """model: 'full' or 'lite' landmark network. max_hands: most hands kept per image (highest detector
        score first; None keeps all). min_presence: hands whose landmark presence score is lower are dropped.
        box_scale: side of the upright square ROI around a plain (palm-less) box, in units of max(w, h).
        refine_passes: further passes of palm-detected hands on the ROI their landmarks define (plain boxes
        always get one)."""
        if model not in ("full", "lite"):
            raise ValueError(f"model must be 'full' or 'lite', got {model!r}")
        super().__init__(detector=hand_detector_module or detector, **kwargs)
        self.model = model
        self.max_hands = max_hands
        self.min_presence = min_presence
        self.box_scale = box_scale
        self.refine_passes = int(refine_passes)
        self.options = {"model": model, "max_hands": max_hands, "min_presence": min_presence, "box_scale": box_scale,
                        "refine_passes": self.refine_passes}

    def set_hand_detector_module(self, module):
        self.set_detector(module)

    def get_hand_detector_module(self):
        return self.detector

    def keypoint_detection(self, images=None, paths=None, batch_size=1, use_gpu=False,
                           output_dir="hand_pose_output", visualization=False, **kwargs):
        """Entries as KeypointModule's; each instance adds 'presence', 'handedness' ('left'/'right',
        the person's own hand in an unmirrored image), 'handedness_score', 'detector_box' and 'roi'
        (4 image corners of the landmark crop), 'world_keypoints' (21 x [x, y, z] in metres, origin at the
        hand's centre, x/y along the image's axes; MediaPipe's world landmarks) and 'keypoint_depths' (21 depths
        relative to the wrist in image pixels, smaller is nearer the camera). 'box' bounds the 21 keypoints."""
        return super().keypoint_detection(images, paths, batch_size, use_gpu, output_dir, visualization, **kwargs)

    predict = keypoint_detection

    def active_models(self):
        return [f"hand_landmark_{self.model}"]

    def build_net(self, use_gpu):
        return HandLandmark(self.model_path(f"hand_landmark_{self.model}"), use_gpu, self.threads)

    def export_spec(self):
        return {**HandLandmark.SPEC,
                "roi": "palm detections: rotation = 90deg - atan2(wrist -> middle MCP), palm box shifted -0.5*h "
                       "along the rotated y axis, square on its long side, scaled 2.6; plain boxes: upright square "
                       f"of side {self.box_scale} * max(w, h), then a second pass on the landmarks' own rotated ROI",
                "options": self.options}

    def detect(self, images, use_gpu=False):
        """The detector's hands, at most max_hands per image, highest score first (palm detections carry
        their 7 palm keypoints)."""
        return [d.take(np.argsort(-d.scores, kind="stable")[:self.max_hands]) for d in super().detect(images, use_gpu)]

    def estimate(self, images, detections, use_gpu=False):
        net = self.net(use_gpu)
        rois = [box_rois(d.boxes, self.box_scale) if d.keypoints is None
                else palm_rois(d.boxes, d.keypoints.reshape(len(d), 14)) for d in detections]
        found = self.landmarks(net, images, rois)
        again = [i for i, d in enumerate(detections) if (d.keypoints is None or self.refine_passes) and len(d)]
        # plain-box hands (and every hand when refine_passes) again on the rotated ROI their landmarks define
        for _ in range(max(self.refine_passes, 1 if again else 0)):
            rows = image_ranges(rois)
            for i in again:
                rois[i] = landmark_rois(found.points[rows[i].start:rows[i].stop])
            found = self.landmarks(net, images, rois)
        presence, right = found.extras["presence"], found.extras["right"]
        flat_rois = np.concatenate(rois) if len(found.points) else np.zeros((0, 4), np.float32)
        world = world_in_image_frame(found.extras["world"], flat_rois).astype(np.float64).round(4)
        depth = depths_in_image_pixels(found.extras["depth"], flat_rois).astype(np.float64).round(2)
        out = []
        for image_rois, rows in zip(rois, image_ranges(rois)):
            hands = []
            for k, roi in zip(rows, image_rois):
                is_right = right[k] >= 0.5
                hands.append({"keypoints": found.points[k], "keypoint_scores": None, "presence": float(presence[k]),
                              "handedness": "right" if is_right else "left",
                              "handedness_score": float(right[k] if is_right else 1 - right[k]),
                              "world_keypoints": world[k].tolist(), "keypoint_depths": depth[k].tolist(),
                              "roi": roi_corners(roi).round(2).tolist()})
            out.append(hands)
        return out

    @staticmethod
    def landmarks(net, images, rois):
        """All hands of all images in one batch: Keypoints with extras depth (H,21) crop px, presence (H,),
        right-hand prob (H,), world (H,21,3) world landmarks in crop axes."""
        transforms = [net.transforms(image_rois) for image_rois in rois]
        return net(crop_instances(images, transforms, net.crop_size), np.concatenate(transforms))

    def finish(self, det, instances):
        """Drop hands below min_presence; 'box' bounds the keypoints, the detector's box is kept as 'detector_box'."""
        keep = np.array([i for i, inst in enumerate(instances) if inst["presence"] >= self.min_presence], int)
        det = det.take(keep)
        instances = [instances[i] for i in keep]
        boxes = det.boxes.copy()
        for box, inst in zip(boxes, instances):
            inst["detector_box"] = [float(v) for v in box]
            box[:] = np.r_[inst["keypoints"].min(0), inst["keypoints"].max(0)]
        return replace(det, boxes=boxes), instances
