"""Boxes, NMS and the affine crops that top-down keypoint models are fed with."""
import cv2
import numpy as np


def iou_one_to_many(box, boxes):
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes, scores, iou_threshold, max_keep=None):
    """Indices of boxes kept by greedy hard NMS, highest score first."""
    order = np.argsort(-scores)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        if max_keep and len(keep) >= max_keep:
            break
        rest = order[1:]
        order = rest[iou_one_to_many(boxes[i], boxes[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def square_box_transform(box, out_size, scale=1.0, shift=(0.0, 0.0), side="max"):
    """2x3 affine mapping a square around `box` (x1,y1,x2,y2) to an out_size x out_size crop.

    side: 'max' or 'min' of the box's width/height gives the square's side before `scale`;
    shift moves the centre by a fraction of that side.
    """
    x1, y1, x2, y2 = box[:4]
    w, h = x2 - x1, y2 - y1
    s = (max(w, h) if side == "max" else min(w, h)) * scale
    cx = (x1 + x2) / 2 + shift[0] * s
    cy = (y1 + y2) / 2 + shift[1] * s
    k = out_size / max(s, 1e-6)
    return np.array([[k, 0, out_size / 2 - k * cx], [0, k, out_size / 2 - k * cy]], np.float32)


def warp_crops(image, transforms, size, border_value=0):
    """Stack of crops (N, h, w, 3) warped from one image; size is (w, h)."""
    out = np.empty((len(transforms), size[1], size[0], 3), np.uint8)
    for i, m in enumerate(transforms):
        cv2.warpAffine(image, m, size, dst=out[i], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=(border_value,) * 3)
    return out


def invert_affine(m):
    return cv2.invertAffineTransform(np.asarray(m, np.float32))


def apply_affine(points, m):
    """points (..., 2) through a 2x3 affine m."""
    return points @ m[:, :2].T + m[:, 2]
