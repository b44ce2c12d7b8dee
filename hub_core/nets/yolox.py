"""YOLOX (anchor-free, grid-decoded) object detector, e.g. YOLOX-nano COCO-80."""
import cv2
import numpy as np

from ..engine import OnnxModel
from ..geometry import nms
from .blob import blob


class YoloX:
    """Input: letterboxed image (scale r = min(S/H, S/W), top-left, pad 114), BGR, 0..255, NCHW.
    Output per grid cell (strides 8/16/32): dx, dy, log w, log h, objectness, class scores."""

    SPEC = {"input": "letterbox to 416x416: r = min(416/H, 416/W), resized image at the top-left, pad 114; "
                     "BGR, 0..255 float (no normalisation), NCHW float32",
            "output": "(1, 3549, 85) per grid cell of strides 8/16/32: dx, dy, log w, log h, objectness, 80 class scores",
            "decoding": "xy = (out[:2] + grid) * stride, wh = exp(out[2:4]) * stride, score = obj * cls, "
                        "keep score > score_threshold, divide by r, class-aware hard NMS at iou_threshold"}
    STRIDES = (8, 16, 32)
    PAD_VALUE = 114

    def __init__(self, model_path, use_gpu=False, threads=None):
        self.model = OnnxModel(model_path, use_gpu, threads)
        _, _, self.height, self.width = self.model.input_shape
        grids, strides = [], []
        for s in self.STRIDES:
            ys, xs = np.mgrid[:self.height // s, :self.width // s]
            grids.append(np.stack([xs.ravel(), ys.ravel()], 1))
            strides.append(np.full((xs.size, 1), s))
        self.grid = np.concatenate(grids).astype(np.float32)
        self.stride = np.concatenate(strides).astype(np.float32)

    def scale(self, image):
        """The letterbox scale r of an image."""
        return min(self.height / image.shape[0], self.width / image.shape[1])

    def preprocess(self, image):
        """(3, H, W) float32 letterboxed image."""
        r = self.scale(image)
        h, w = int(round(image.shape[0] * r)), int(round(image.shape[1] * r))
        canvas = np.full((self.height, self.width, 3), self.PAD_VALUE, np.uint8)
        canvas[:h, :w] = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        return blob([canvas], (self.width, self.height))[0]

    def __call__(self, images, score_threshold=0.25, iou_threshold=0.45, classes=None):
        """Per image an (N, 6) array x1,y1,x2,y2,score,label. classes: label indices to keep (None = all)."""
        if not images:
            return []
        out = self.model.map(images, self.preprocess)[0]
        return [self.decode(o, self.scale(im), score_threshold, iou_threshold, classes) for o, im in zip(out, images)]

    def decode(self, out, r, score_threshold, iou_threshold, classes=None):
        if classes is None:
            labels, class_scores = np.arange(out.shape[1] - 5), out[:, 5:]
        else:  # only the wanted classes' columns (a person detector reads 1 of 80)
            labels = np.array(sorted(set(classes)), np.int64)
            class_scores = out[:, 5 + labels]
        scores = out[:, 4:5] * class_scores
        cell, column = np.nonzero(scores > score_threshold)  # every (cell, class) pair above threshold
        if cell.size == 0:
            return np.zeros((0, 6), np.float32)
        label = labels[column]
        o, stride = out[cell], self.stride[cell]
        xy = (o[:, :2] + self.grid[cell]) * stride
        half_wh = np.exp(o[:, 2:4]) * stride / 2
        boxes = np.concatenate([xy - half_wh, xy + half_wh], 1) / r
        score = scores[cell, column]
        # Shift each class into its own coordinate range so one NMS pass never suppresses across classes.
        offset = label[:, None].astype(np.float32) * (boxes.max() + 1)
        keep = nms(boxes + offset, score, iou_threshold)
        return np.concatenate([boxes[keep], score[keep, None], label[keep, None].astype(np.float32)], 1).astype(np.float32)
