"""The whole image as one box: the detector of single-animal set-ups (a fixed camera on one animal)."""
import numpy as np

from hub_core.detector import DetectorModule


class WholeImageDetector(DetectorModule):
    labels = ["animal", "object"]
    options = {"label": "animal"}  # the label the box carries

    def build_net(self, use_gpu):
        return whole_image_boxes

    def option_schemas(self):
        return {"label": {"type": "string", "enum": self.labels, "description": "the label the box carries"}}

    def detect(self, images, use_gpu=False, **settings):
        label = {**self.settings, **settings}["label"]
        if label not in self.labels:
            raise ValueError(f"{self.name}: label must be one of {self.labels}, got {label!r}")
        return whole_image_boxes(images, self.labels.index(label))


def whole_image_boxes(images, label=0, **_):
    """Per image a (1, 6) array [0, 0, width, height, 1, label]."""
    return [np.array([[0, 0, im.shape[1], im.shape[0], 1, label]], np.float32) for im in images]
