"""PP-PicoDet exported without NMS: decoded boxes in input pixels + per-anchor class scores."""
import numpy as np

from ..engine import OnnxModel
from ..geometry import nms
from .blob import imagenet_blob


class PicoDet:
    SPEC = {"input": "whole image stretched to 320x320 (no letterbox), RGB, (x/255 - ImageNet mean) / ImageNet std, "
                     "NCHW float32",
            "output": "boxes (1, 2125, 4) x1,y1,x2,y2 in 320x320 input pixels; scores (1, C, 2125) per class",
            "decoding": "keep score > score_threshold, scale boxes by (W/320, H/320, W/320, H/320), "
                        "class-aware hard NMS at iou_threshold"}

    def __init__(self, model_path, use_gpu=False, threads=None):
        self.model = OnnxModel(model_path, use_gpu, threads)
        _, _, self.height, self.width = self.model.input_shape

    def preprocess(self, image):
        return imagenet_blob([image], (self.width, self.height))[0]

    def __call__(self, images, score_threshold=0.4, iou_threshold=0.5):
        """Per image an (N, 6) array x1,y1,x2,y2,score,label."""
        if not images:
            return []
        boxes, scores = self.model(np.stack([self.preprocess(im) for im in images]))
        results = []
        for image, b, s in zip(images, boxes, scores):
            label, anchor = np.nonzero(s > score_threshold)
            score = s[label, anchor]
            b = b[anchor] * np.array([image.shape[1] / self.width, image.shape[0] / self.height] * 2, np.float32)
            offset = label[:, None].astype(np.float32) * (b.max() + 1 if len(b) else 0)
            keep = nms(b + offset, score, iou_threshold)
            results.append(np.concatenate([b[keep], score[keep, None], label[keep, None].astype(np.float32)], 1)
                           .astype(np.float32))
        return results
