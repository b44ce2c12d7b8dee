"""UltraLight-Fast-Generic-Face-Detector-1MB (RFB-320 / RFB-640)."""
import numpy as np

from ..engine import OnnxModel
from ..geometry import nms
from .blob import blob


class UltraFace:
    """Input: whole image resized to the model size, RGB, (x-127)/128, NCHW.
    Output: face probability and x1,y1,x2,y2 normalised to 0..1 per prior."""

    SPEC = {"input": "whole image resized to the model size (WxH from the graph), RGB, (x-127)/128, NCHW float32",
            "output": "scores (1,N,2) softmax [background, face]; boxes (1,N,4) x1,y1,x2,y2 normalised 0..1",
            "decoding": "keep face score > score_threshold, scale boxes by (W,H,W,H), hard NMS at iou_threshold"}

    def __init__(self, model_path, use_gpu=False, threads=None):
        self.model = OnnxModel(model_path, use_gpu, threads)
        _, _, self.height, self.width = self.model.input_shape

    def preprocess(self, image):
        return blob([image], (self.width, self.height), mean=127.0, scale=1.0 / 128.0, rgb=True)[0]

    def __call__(self, images, score_threshold=0.5, iou_threshold=0.5):
        """Per image an (N, 6) array x1,y1,x2,y2,score,label (label 0 = face)."""
        if not images:
            return []
        scores, boxes = self.model.map(images, self.preprocess)
        results = []
        for image, s, b in zip(images, scores[..., 1], boxes):
            keep = s > score_threshold
            s, b = s[keep], b[keep] * np.array([image.shape[1], image.shape[0]] * 2, np.float32)
            idx = nms(b, s, iou_threshold)
            results.append(np.concatenate([b[idx], s[idx, None], np.zeros((len(idx), 1), np.float32)], 1))
        return results
