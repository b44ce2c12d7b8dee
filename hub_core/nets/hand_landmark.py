"""MediaPipe hand landmark network (full / lite): rotated square hand ROI at 224x224 in, 21 (x, y, z) out.

ROIs are rotated rectangles (cx, cy, side, rotation) in image pixels, as MediaPipe builds them.
"""
import numpy as np

from ..engine import OnnxModel
from ..geometry import apply_affine, invert_affine
from .keypoints import Keypoints, back_to_image

SIZE = 224


def normalize_radians(angle):
    return angle - 2 * np.pi * np.floor((angle + np.pi) / (2 * np.pi))


def palm_rois(boxes, palm_keypoints, scale=2.6, shift_y=-0.5):
    """MediaPipe's palm -> hand ROI: rotation puts wrist (palm kp 0) -> middle MCP (kp 2) upright;
    the palm box is shifted by shift_y * h along the rotated y axis, made square on its long side, scaled.
    Returns (N, 4): cx, cy, side, rotation (radians)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    kp = np.asarray(palm_keypoints, np.float32).reshape(len(boxes), 7, 2)
    rotation = normalize_radians(np.pi / 2 - np.arctan2(-(kp[:, 2, 1] - kp[:, 0, 1]), kp[:, 2, 0] - kp[:, 0, 0]))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 - shift_y * h * np.sin(rotation)
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + shift_y * h * np.cos(rotation)
    return np.stack([cx, cy, np.maximum(w, h) * scale, rotation], 1).astype(np.float32)


def box_rois(boxes, scale=1.5):
    """Upright square ROI around plain boxes (no palm keypoints): side = max(w, h) * scale."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2,
                     np.maximum(w, h) * scale, np.zeros(len(boxes))], 1).astype(np.float32)


def landmark_rois(points, scale=2.0, shift_y=-0.1):
    """MediaPipe's tracking ROI from 21 landmarks (HandLandmarksToRect): rotation wrist -> middle MCP
    (upright), box of the palm + finger-base points in the rotated frame, shifted, squared, scaled."""
    points = np.asarray(points, np.float32).reshape(-1, 21, 2)
    base = points[:, [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18]]
    rotation = normalize_radians(np.pi / 2 - np.arctan2(-(points[:, 9, 1] - points[:, 0, 1]),
                                                        points[:, 9, 0] - points[:, 0, 0]))
    c, s = np.cos(rotation)[:, None], np.sin(rotation)[:, None]
    centre0 = (base.min(1) + base.max(1)) / 2
    d = base - centre0[:, None]
    rx, ry = d[..., 0] * c + d[..., 1] * s, -d[..., 0] * s + d[..., 1] * c  # into the hand-upright frame
    w, h = rx.max(1) - rx.min(1), ry.max(1) - ry.min(1)
    mx, my = (rx.max(1) + rx.min(1)) / 2, (ry.max(1) + ry.min(1)) / 2 + shift_y * h
    cx = centre0[:, 0] + mx * c[:, 0] - my * s[:, 0]
    cy = centre0[:, 1] + mx * s[:, 0] + my * c[:, 0]
    return np.stack([cx, cy, np.maximum(w, h) * scale, rotation], 1).astype(np.float32)


def roi_transform(roi, size=SIZE):
    """2x3 affine image -> crop for one rotated square ROI (cx, cy, side, rotation)."""
    cx, cy, side, rotation = roi
    k = side / size
    c, s = np.cos(rotation) * k, np.sin(rotation) * k
    crop_to_image = np.array([[c, -s, 0], [s, c, 0]], np.float32)
    crop_to_image[:, 2] = np.array([cx, cy]) - crop_to_image[:, :2] @ np.array([size / 2, size / 2])
    return invert_affine(crop_to_image)


def roi_corners(roi):
    """(4, 2) image corners of a rotated ROI, clockwise from top-left in the ROI frame."""
    m = invert_affine(roi_transform(roi))
    return apply_affine(np.array([[0, 0], [SIZE, 0], [SIZE, SIZE], [0, SIZE]], np.float32), m)


class HandLandmark:
    SPEC = {"input": "rotated square hand ROI warped to 224x224 (zero border), RGB, x/255, NHWC float32",
            "output": "Identity (1,63): 21 x (x,y,z) in 224-px crop coords; Identity_1: hand presence (0..1); "
                      "Identity_2: handedness, probability of a right hand in an unmirrored image; "
                      "Identity_3: world landmarks (21 x 3 metres, origin at the hand's centre, crop axes)",
            "decoding": "reshape (21,3), take x,y, map through the inverse ROI affine to image pixels"}

    crop_size = (SIZE, SIZE)

    def __init__(self, model_path, use_gpu=False, threads=None, rgb=True, scale=1.0 / 255.0):
        self.model = OnnxModel(model_path, use_gpu, threads)
        self.rgb, self.scale = rgb, scale  # input: RGB (or BGR) x scale, NHWC float32

    def transforms(self, rois):
        """(N, 2, 3) affines mapping each rotated ROI (cx, cy, side, rotation) to the 224x224 crop."""
        return np.array([roi_transform(r) for r in rois], np.float32).reshape(-1, 2, 3)

    def __call__(self, crops, transforms):
        """crops (N,224,224,3) BGR uint8 + their image->crop affines -> Keypoints: points (N,21,2) image px,
        no scores, extras depth (N,21) crop px, presence (N,), right (N,) probability of a right hand,
        world (N,21,3) world landmarks, metres in the crop's axes."""
        if len(crops) == 0:
            return Keypoints(np.zeros((0, 21, 2), np.float32), None,
                             {"depth": np.zeros((0, 21), np.float32), "presence": np.zeros(0), "right": np.zeros(0),
                              "world": np.zeros((0, 21, 3), np.float32)})
        x = (crops[..., ::-1] if self.rgb else crops).astype(np.float32) * self.scale
        outputs = self.model(x)
        landmarks, presence, handedness = outputs[:3]
        landmarks = landmarks.reshape(len(crops), 21, 3)
        world = (outputs[3].reshape(-1, 21, 3) if len(outputs) > 3
                 else np.full((len(crops), 21, 3), np.nan, np.float32))
        return Keypoints(back_to_image(landmarks[..., :2], transforms), None,
                         {"depth": landmarks[..., 2], "presence": presence.reshape(-1), "right": handedness.reshape(-1),
                          "world": world})
