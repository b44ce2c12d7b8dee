"""Top-down keypoint modules: a swappable detector finds instances, a keypoint network
places the points. Subclasses implement build_net() and estimate()."""
import json
import shutil
from pathlib import Path

import numpy as np

from . import batching, draw
from .detector import DetectorModule
from .geometry import warp_crops
from .module import Module, ModuleBase

RESULT_SCHEMA_VERSION = "1.1"  # 1.1: hands add world_keypoints and keypoint_depths


class KeypointModule(ModuleBase):
    type = "keypoint_detection"
    default_output_dir = "keypoint_output"
    export_folder = "keypoint"    # save_inference_model sub-folder of the keypoint model

    def __init__(self, detector=None, model_paths=None, threads=None):
        super().__init__(model_paths)
        self.meta = json.loads((self.directory / "keypoints.json").read_text())
        self.threads = threads
        self.options = {}         # constructor options that save_inference_model records
        self._detector = None
        if detector is not None:
            self.set_detector(detector)

    # --- detector -------------------------------------------------------------------
    @property
    def detector(self):
        if self._detector is None:
            self._detector = Module(**self.default_detector, threads=self.threads)  # {"name", options}
        return self._detector

    def set_detector(self, module):
        if isinstance(module, str):
            module = Module(name=module, threads=self.threads)
        if not callable(getattr(module, "detect", None)):
            raise TypeError(f"{type(module).__name__} is not a detector: it has no detect(images) method")
        self._detector = module

    def active_models(self):
        """Keys of model_files this instance runs (what save_inference_model copies)."""
        return list(self.model_files)

    def export_spec(self):
        """JSON-able pre/post-processing description written beside the exported model."""
        return {}

    def detect(self, images, use_gpu=False):
        """Per image (N, 6+) detections handed to estimate(); columns past 6 are the subclass's own."""
        return self.detector.detect(images, use_gpu=use_gpu)

    def estimate(self, images, detections, use_gpu=False, **options):
        """Per image a list of instance dicts {'keypoints' (K,2), 'keypoint_scores' (K,) or None, ...}."""
        raise NotImplementedError

    # --- the public call ------------------------------------------------------------
    def keypoint_detection(self, images=None, paths=None, batch_size=1, use_gpu=False, output_dir=None,
                           visualization=False, boxes=None, strict=False, **options):
        """One entry per input image, in order:
        {'data': [[[x, y], ...] per instance], 'instances': [{'box', 'box_score', 'label', 'keypoints',
        'keypoint_scores'}], 'path', 'image_size': {'width', 'height'}[, 'save_path'][, 'error']}.

        boxes: optional per-image lists of [x1, y1, x2, y2(, score)] that replace the detector.
        strict: raise on the first bad input instead of returning an entry with 'error'.
        """
        items = batching.gather(images, paths)
        if boxes is not None and len(boxes) != len(items):
            raise ValueError(f"boxes has {len(boxes)} entries for {len(items)} images")
        position = {item[0]: i for i, item in enumerate(items)}
        output_dir = output_dir or self.default_output_dir
        used_names = set()
        self.net(use_gpu)  # configuration errors (no CUDA, missing model file) raise here, not per image
        if boxes is None and isinstance(self.detector, DetectorModule):
            self.detector.net(use_gpu)

        def process(imgs, chunk):
            if boxes is None:
                dets = self.detect(imgs, use_gpu)
            else:
                dets = [user_boxes(boxes[position[name]], name) for name, _, _ in chunk]
            per_image = self.estimate(imgs, dets, use_gpu, **options)
            entries = []
            for image, (name, _, path), det, instances in zip(imgs, chunk, dets, per_image):
                entry = self.entry(image, path, det, instances)
                if visualization:
                    entry["save_path"] = draw.save(draw.draw(image, entry, self.meta), output_dir,
                                                   path or f"image_{position[name]}", used_names)
                entries.append(entry)
            return entries

        return batching.run(items, batch_size, process, strict)

    predict = keypoint_detection  # the generic entry point used by `hub run` and serving

    def entry(self, image, path, det, instances):
        labels = getattr(self.detector, "labels", ["object"]) if self._detector is not None else ["object"]
        out = []
        for d, inst in zip(det, instances):
            scores = inst.get("keypoint_scores")
            record = {"box": [float(v) for v in d[:4]], "box_score": float(d[4]),
                      "label": labels[int(d[5])] if int(d[5]) < len(labels) else str(int(d[5])),
                      "keypoints": np.asarray(inst["keypoints"], np.float64).round(3).tolist(),
                      "keypoint_scores": None if scores is None else np.asarray(scores, np.float64).round(4).tolist()}
            record.update({k: v for k, v in inst.items() if k not in record})
            out.append(record)
        return {"data": [r["keypoints"] for r in out], "instances": out, "path": path,
                "image_size": {"width": int(image.shape[1]), "height": int(image.shape[0])}}

    # --- export ---------------------------------------------------------------------
    def save_inference_model(self, dirname, model_filename=None, params_filename=None, combined=False):
        """Write a deployable copy: <export_folder>/ and detector/, each ONNX + a JSON of its
        pre/post-processing, and inference.json so hub.Module(directory=dirname) reloads it.
        ONNX files hold their weights, so params_filename and combined are accepted and unused."""
        dirname = Path(dirname)
        keys = self.active_models()
        models = {}
        for key in keys:
            fname = model_filename if (model_filename and len(keys) == 1) else f"{key}.onnx"
            models[key] = _copy(self.model_path(key), dirname / self.export_folder / fname)
        _write_json(dirname / self.export_folder / "model.json",
                    {"module": self.name, "version": self.version, "models": {k: Path(v).name for k, v in models.items()},
                     "keypoints": self.meta, **self.export_spec()})
        spec = {"module": self.name, "version": self.version, "mode": getattr(self, "mode", None), "options": self.options,
                "models": {k: str(Path(v).relative_to(dirname)) for k, v in models.items()}}
        det = self.detector
        if isinstance(det, DetectorModule):
            det_models = {k: _copy(p, dirname / "detector" / f"{k}.onnx") for k, p in det.model_files_for_export().items()}
            _write_json(dirname / "detector" / "model.json", {**det.export_spec(), "version": det.version,
                        "models": {k: Path(v).name for k, v in det_models.items()}})
            spec["detector"] = {"module": det.name, "thresholds": det.thresholds,
                                "models": {k: str(Path(v).relative_to(dirname)) for k, v in det_models.items()}}
        _write_json(dirname / "inference.json", spec)
        return str(dirname)


def crop_instances(images, transforms, size):
    """Every instance crop of every image in one batch (N, h, w, 3): transforms[i] are image i's
    2x3 affines, size is (w, h). One model call then serves all instances of a chunk."""
    return np.concatenate([warp_crops(image, ms, size) for image, ms in zip(images, transforms)])


def image_ranges(per_image):
    """range of each image's rows in a batch stacked from per_image (lists of per-instance items)."""
    bounds = np.cumsum([0] + [len(items) for items in per_image])
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def user_boxes(boxes, name):
    """[[x1, y1, x2, y2(, score)], ...] -> (N, 6) detections (score 1 when not given, label 0)."""
    arr = np.asarray(boxes if len(boxes) else np.zeros((0, 4)), np.float32)
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise ValueError(f"{name}: boxes must be a list of [x1, y1, x2, y2] or [x1, y1, x2, y2, score]")
    score = arr[:, 4:5] if arr.shape[1] == 5 else np.ones((len(arr), 1), np.float32)
    return np.concatenate([arr[:, :4], score, np.zeros((len(arr), 1), np.float32)], 1)


def _copy(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return str(dst)


def _write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
