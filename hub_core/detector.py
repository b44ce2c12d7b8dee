"""Detector modules and the detector protocol keypoint modules plug into.

Protocol: detect(images, use_gpu=False, **settings) takes BGR uint8 images and returns, per image, a
float32 array (N, 6): x1, y1, x2, y2, score, label index (into .labels). Any object with `detect` and
`labels` can be plugged in. Keypoint modules read detections(), one Detections per image.

A detector's settings are its thresholds (numbers in 0..1: score_threshold, iou_threshold) and its other
options (e.g. YOLOX's classes), each described by a JSON schema (parameters()) that serving checks
requests against and publishes in /openapi.json.
"""
from dataclasses import dataclass

import numpy as np

from . import batching, draw
from .module import ModuleBase

FRACTION = {"type": "number", "minimum": 0, "maximum": 1}


@dataclass
class Detections:
    """One image's detections: boxes (N, 4) x1, y1, x2, y2; scores (N,); labels (N names); keypoints (N, P, 2)
    per-box points in image pixels where the detector finds them (the palm's 7), else None."""
    boxes: np.ndarray
    scores: np.ndarray
    labels: list
    keypoints: np.ndarray = None

    @classmethod
    def from_rows(cls, rows, names):
        """From protocol rows (N, 6+): the label index read through names (an index past them is its own name)."""
        rows = np.asarray(rows, np.float32).reshape(-1, max(6, np.shape(rows)[-1] if len(rows) else 6))
        labels = [names[i] if i < len(names) else str(i) for i in rows[:, 5].astype(int)]
        return cls(rows[:, :4], rows[:, 4], labels)

    @classmethod
    def given(cls, boxes, name):
        """Boxes a caller gave, [[x1, y1, x2, y2(, score)], ...]: score 1 when not given, label 'object'."""
        arr = np.asarray(boxes if len(boxes) else np.zeros((0, 4)), np.float32)
        if arr.ndim != 2 or arr.shape[1] not in (4, 5):
            raise ValueError(f"{name}: boxes must be a list of [x1, y1, x2, y2] or [x1, y1, x2, y2, score]")
        scores = arr[:, 4] if arr.shape[1] == 5 else np.ones(len(arr), np.float32)
        return cls(arr[:, :4], scores, ["object"] * len(arr))

    def __len__(self):
        return len(self.boxes)

    def take(self, index):
        """The detections at these indices (an int array or a boolean mask), in that order."""
        index = np.arange(len(self))[index]
        return Detections(self.boxes[index], self.scores[index], [self.labels[i] for i in index],
                          None if self.keypoints is None else self.keypoints[index])


def detections_of(detector, images, use_gpu=False):
    """Detections per image from any detector: its own detections() or the (N, 6) detect() protocol."""
    if callable(getattr(detector, "detections", None)):
        return detector.detections(images, use_gpu)
    names = list(getattr(detector, "labels", ["object"]))
    return [Detections.from_rows(rows, names) for rows in detector.detect(images, use_gpu=use_gpu)]


class DetectorModule(ModuleBase):
    labels = ["object"]
    thresholds = {}  # default score / IoU thresholds of detect(), each a number in 0..1
    options = {}     # default other settings of detect() (described by option_schemas())

    def __init__(self, model_paths=None, threads=None, backend="onnxruntime", **settings):
        super().__init__(model_paths, backend)
        self.threads = threads
        known = {**self.thresholds, **self.options}
        unknown = set(settings) - set(known)
        if unknown:
            raise TypeError(f"{self.name}: unknown option(s) {sorted(unknown)}; known: {sorted(known)}")
        self.thresholds = {k: settings.get(k, v) for k, v in self.thresholds.items()}
        self.options = {k: settings.get(k, v) for k, v in self.options.items()}

    @property
    def settings(self):
        return {**self.thresholds, **self.options}

    def option_schemas(self):
        """{option: JSON schema} of the options (not thresholds) detect() takes."""
        return {}

    def parameters(self):
        """{name: JSON schema} of the keyword settings predict() takes."""
        return {**{name: FRACTION for name in self.thresholds}, **self.option_schemas()}

    def detect(self, images, use_gpu=False, **settings):
        return self.net(use_gpu)(images, **{**self.settings, **settings})

    def detections(self, images, use_gpu=False, **settings):
        return [Detections.from_rows(rows, self.labels) for rows in self.detect(images, use_gpu, **settings)]

    def model_files_for_export(self):
        """{key: path} of the model files save_inference_model should copy."""
        return {key: self.source_path(key) for key in self.model_files}

    def export_spec(self):
        """JSON-able description of pre/post-processing, written beside an exported model."""
        return {"module": self.name, "labels": self.labels, "thresholds": self.thresholds, "options": self.options}

    def boxes_result(self, images=None, paths=None, batch_size=1, use_gpu=False, output_dir="detection_result",
                     visualization=False, strict=False, **settings):
        """Run detect() over images/paths; entries {'data': [box dicts], 'path', 'image_size'[, 'save_path']}."""
        used = set()
        self.net(use_gpu)  # configuration errors raise here, not per image

        def process(imgs, items):
            entries = []
            for image, item, dets in zip(imgs, items, self.detect(imgs, use_gpu, **settings)):
                entry = {"data": [self.box_dict(d) for d in dets], "path": item.path,
                         "image_size": {"width": image.shape[1], "height": image.shape[0]}}
                if visualization:
                    view = {"instances": [{"box": d[:4].tolist(), "box_score": float(d[4])} for d in dets]}
                    entry["save_path"] = draw.save(draw.draw(image, view), output_dir,
                                                   item.path or f"image_{item.index}", used)
                entries.append(entry)
            return entries

        return batching.run(batching.gather(images, paths), batch_size, process, strict)

    def predict(self, images=None, paths=None, **kwargs):
        return self.boxes_result(images, paths, **kwargs)

    def box_dict(self, det):
        return {"left": float(det[0]), "top": float(det[1]), "right": float(det[2]), "bottom": float(det[3]),
                "confidence": float(det[4]), "label": self.labels[int(det[5])]}


class FaceDetectorModule(DetectorModule):
    type = "face_detection"
    labels = ["face"]

    def parameters(self):
        return {"confs_threshold": FRACTION, "iou_threshold": FRACTION}  # PaddleHub's names

    def face_detection(self, images=None, paths=None, batch_size=1, use_gpu=False, output_dir="face_detector_output",
                       visualization=False, confs_threshold=None, iou_threshold=None, strict=False):
        """PaddleHub's API: [{'data': [{'left','right','top','bottom','confidence'}], ...}], one per input."""
        overrides = {k: v for k, v in (("score_threshold", confs_threshold), ("iou_threshold", iou_threshold))
                     if v is not None}
        return self.boxes_result(images, paths, batch_size, use_gpu, output_dir, visualization, strict, **overrides)

    def predict(self, images=None, paths=None, **kwargs):
        return self.face_detection(images, paths, **kwargs)
