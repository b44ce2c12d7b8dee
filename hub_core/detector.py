"""Detector modules and the detector protocol keypoint modules plug into.

Protocol: detect(images, use_gpu=False, **thresholds) takes BGR uint8 images and
returns, per image, a float32 array (N, 6): x1, y1, x2, y2, score, label index
(into .labels). Any object with `detect` and `labels` can be plugged in.
"""
import numpy as np

from . import batching, draw
from .module import ModuleBase


class DetectorModule(ModuleBase):
    labels = ["object"]
    thresholds = {}  # default keyword thresholds of detect()

    def __init__(self, model_paths=None, threads=None, backend="onnxruntime", **thresholds):
        super().__init__(model_paths, backend)
        self.threads = threads
        unknown = set(thresholds) - set(self.thresholds)
        if unknown:
            raise TypeError(f"{self.name}: unknown option(s) {sorted(unknown)}; known: {sorted(self.thresholds)}")
        self.thresholds = {**self.thresholds, **thresholds}

    def detect(self, images, use_gpu=False, **thresholds):
        return self.net(use_gpu)(images, **{**self.thresholds, **thresholds})

    def model_files_for_export(self):
        """{key: path} of the model files save_inference_model should copy."""
        return {key: self.source_path(key) for key in self.model_files}

    def export_spec(self):
        """JSON-able description of pre/post-processing, written beside an exported model."""
        return {"module": self.name, "labels": self.labels, "thresholds": self.thresholds}

    def boxes_result(self, images=None, paths=None, batch_size=1, use_gpu=False, output_dir="detection_result",
                     visualization=False, strict=False, **thresholds):
        """Run detect() over images/paths; entries {'data': [box dicts], 'path', 'image_size'[, 'save_path']}."""
        used = set()
        self.net(use_gpu)  # configuration errors raise here, not per image

        def process(imgs, items):
            entries = []
            for image, (name, _, path), dets in zip(imgs, items, self.detect(imgs, use_gpu, **thresholds)):
                entry = {"data": [self.box_dict(d) for d in dets], "path": path,
                         "image_size": {"width": image.shape[1], "height": image.shape[0]}}
                if visualization:
                    view = {"instances": [{"box": d[:4].tolist(), "box_score": float(d[4])} for d in dets]}
                    entry["save_path"] = draw.save(draw.draw(image, view), output_dir,
                                                   path or f"image_{name[7:-1]}", used)
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

    def face_detection(self, images=None, paths=None, batch_size=1, use_gpu=False, output_dir="face_detector_output",
                       visualization=False, confs_threshold=None, iou_threshold=None, strict=False):
        """PaddleHub's API: [{'data': [{'left','right','top','bottom','confidence'}], ...}], one per input."""
        overrides = {k: v for k, v in (("score_threshold", confs_threshold), ("iou_threshold", iou_threshold))
                     if v is not None}
        return self.boxes_result(images, paths, batch_size, use_gpu, output_dir, visualization, strict, **overrides)

    def predict(self, images=None, paths=None, **kwargs):
        return self.face_detection(images, paths, **kwargs)


def empty_detections():
    return np.zeros((0, 6), np.float32)
