"""MediaPipe palm detector (full / lite): 192x192 letterboxed image in, palm boxes + 7 palm keypoints out."""
import cv2
import numpy as np

from ..engine import OnnxModel

SIZE = 192
NUM_PALM_KEYPOINTS = 7  # wrist, index MCP, middle MCP, ring MCP, pinky MCP, thumb CMC, thumb MCP (MediaPipe order)


def palm_anchors():
    """(2016, 2) anchor centres in 0..1: stride 8 (24x24, 2 per cell) then stride 16 (12x12, 6 per cell).
    MediaPipe's SSD options for this model use fixed anchor size 1, so only centres matter."""
    out = []
    for grid, per_cell in ((SIZE // 8, 2), (SIZE // 16, 6)):
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        centres = np.stack([(xs + 0.5) / grid, (ys + 0.5) / grid], -1).reshape(-1, 1, 2)
        out.append(np.repeat(centres, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(out).astype(np.float32)


def weighted_nms(boxes, scores, keypoints, iou_threshold):
    """MediaPipe's WeightedNonMaxSuppression: each kept detection is the score-weighted mean of
    itself and every remaining candidate overlapping it by more than iou_threshold; it keeps the top score."""
    order = np.argsort(-scores)
    kept_boxes, kept_scores, kept_kps = [], [], []
    while order.size:
        top = boxes[order[0]]
        x1 = np.maximum(top[0], boxes[order, 0])
        y1 = np.maximum(top[1], boxes[order, 1])
        x2 = np.minimum(top[2], boxes[order, 2])
        y2 = np.minimum(top[3], boxes[order, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        areas = (boxes[order, 2] - boxes[order, 0]) * (boxes[order, 3] - boxes[order, 1])
        iou = inter / np.maximum(areas[0] + areas - inter, 1e-9)
        overlapping = iou > iou_threshold
        overlapping[0] = True  # the top candidate itself, even if degenerate
        group = order[overlapping]
        w = scores[group] / scores[group].sum()
        kept_boxes.append(w @ boxes[group])
        kept_kps.append(np.tensordot(w, keypoints[group], 1))
        kept_scores.append(scores[order[0]])
        order = order[~overlapping]
    if not kept_scores:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, NUM_PALM_KEYPOINTS, 2), np.float32)
    return (np.asarray(kept_boxes, np.float32), np.asarray(kept_scores, np.float32),
            np.asarray(kept_kps, np.float32))


class PalmDetector:
    SPEC = {"input": "resize the long side to 192 (area averaging when shrinking), centre on a zero 192x192 square, RGB, x/255, NHWC float32",
            "output": "Identity (1,2016,18): cx,cy,w,h + 7 palm keypoints (x,y) in 192-px units relative to the "
                      "anchor centre; Identity_1 (1,2016,1): score logits",
            "anchors": "stride 8: 24x24 x2, stride 16: 12x12 x6, centres ((x+0.5)/g, (y+0.5)/g), size 1",
            "decoding": "cx = reg/192 + anchor (keypoints likewise), w = reg/192; score = sigmoid(clip(logit, +-100)); "
                        "score > score_threshold; weighted NMS (score-weighted mean of overlapping boxes) at "
                        "iou_threshold; undo letterbox to image pixels",
            "palm_keypoints": ["wrist", "index_mcp", "middle_mcp", "ring_mcp", "pinky_mcp", "thumb_cmc", "thumb_mcp"]}

    def __init__(self, model_path, use_gpu=False, threads=None):
        self.model = OnnxModel(model_path, use_gpu, threads)
        self.anchors = palm_anchors()

    @staticmethod
    def placement(image):
        """Where letterbox puts an image: its resized width and height, then the left and top padding."""
        h, w = image.shape[:2]
        rw, rh = max(1, round(w * SIZE / max(h, w))), max(1, round(h * SIZE / max(h, w)))
        return rw, rh, (SIZE - rw) // 2, (SIZE - rh) // 2

    @classmethod
    def letterbox(cls, image):
        """Scale the long side to 192 and centre on a zero 192x192 square: HWC RGB 0..1. Resizing before
        padding keeps the cost at the image's own size; area averaging finds more hands than MediaPipe's
        bilinear warp (CMU sample 13 vs 12 of 16, FreiHAND 7 vs 6 of 8)."""
        h, w = image.shape[:2]
        rw, rh, pad_x, pad_y = cls.placement(image)
        while max(image.shape[:2]) >= 4 * SIZE:  # halve large images first (1280x720: 3.8 -> 1.4 ms)
            image = cv2.pyrDown(image)
        small = cv2.resize(image, (rw, rh), interpolation=cv2.INTER_AREA if max(h, w) > SIZE else cv2.INTER_LINEAR)
        square = cv2.copyMakeBorder(small, pad_y, SIZE - rh - pad_y, pad_x, SIZE - rw - pad_x, cv2.BORDER_CONSTANT,
                                    value=(0, 0, 0))
        return cv2.cvtColor(square, cv2.COLOR_BGR2RGB).astype(np.float32) * (1.0 / 255.0)

    def __call__(self, images, score_threshold=0.5, iou_threshold=0.3):
        """Per image a dict: boxes (N,4) x1,y1,x2,y2, scores (N,), keypoints (N,7,2), all in image pixels."""
        if not images:
            return []
        regs, logits = self.model.map(images, self.letterbox)
        results = []
        for image, reg, logit in zip(images, regs, logits):
            rw, rh, pad_x, pad_y = self.placement(image)  # tensor pixel = image pixel * scale + offset
            scale = np.array([rw / image.shape[1], rh / image.shape[0]], np.float32)
            offset = np.array([pad_x, pad_y], np.float32)
            scores = 1.0 / (1.0 + np.exp(-np.clip(logit[:, 0], -100, 100)))
            keep = scores > score_threshold
            reg, scores, anchors = reg[keep] / SIZE, scores[keep], self.anchors[keep]
            centre = reg[:, :2] + anchors
            half = reg[:, 2:4] / 2
            boxes = np.concatenate([centre - half, centre + half], 1)
            kps = reg[:, 4:].reshape(-1, NUM_PALM_KEYPOINTS, 2) + anchors[:, None]
            boxes, scores, kps = weighted_nms(boxes, scores, kps, iou_threshold)
            results.append({"boxes": ((boxes.reshape(-1, 2, 2) * SIZE - offset) / scale).reshape(-1, 4),
                            "scores": scores, "keypoints": (kps * SIZE - offset) / scale})
        return results
