"""Top-down keypoint modules: a swappable detector finds instances, a keypoint network
places the points. Subclasses implement build_net() and estimate()."""
import json
import shutil
from pathlib import Path

import numpy as np

from . import batching, draw, paddle_convert
from .detector import DetectorModule
from .geometry import warp_crops
from .module import Module, ModuleBase
from .paddle_convert import is_paddle_model

RESULT_SCHEMA_VERSION = "1.0"


class KeypointModule(ModuleBase):
    type = "keypoint_detection"
    default_output_dir = "keypoint_output"
    export_folder = "keypoint"    # save_inference_model sub-folder of the keypoint model

    def __init__(self, detector=None, model_paths=None, threads=None, backend="onnxruntime"):
        super().__init__(model_paths, backend)
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
            # default_detector: {"name", options}
            self._detector = Module(**self.default_detector, threads=self.threads, backend=self.backend)
        return self._detector

    def set_detector(self, module):
        if isinstance(module, str):
            module = Module(name=module, threads=self.threads, backend=self.backend)
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
    def save_inference_model(self, dirname, model_filename=None, params_filename=None, combined=False,
                             format="onnx"):
        """Write a deployable copy that hub.Module(directory=dirname) reloads, with inference.json.

        format="onnx": <export_folder>/ and detector/, each ONNX + a JSON of its pre/post-processing (ONNX
        files hold their weights, so params_filename and combined are accepted and unused).
        format="paddle": Paddle inference models named as PaddleHub names them, <name>_<role>.pdmodel /
        .pdiparams with <name> the folder's name and role 'landmark' / 'pose' and 'detector', each beside a
        <name>_<role>.processing.json; reloaded with backend="paddle"."""
        if format not in ("onnx", "paddle"):
            raise ValueError(f'format must be "onnx" or "paddle", got {format!r}')
        dirname = Path(dirname)
        det = self.detector if isinstance(self.detector, DetectorModule) else None
        parts = {"keypoint": (self, {k: self.source_path(k) for k in self.active_models()})}
        if det is not None:
            parts["detector"] = (det, det.model_files_for_export())
        saved = {}
        for part, (_, sources) in parts.items():
            if format == "paddle":
                prefix = f"{dirname.name}_{self.paddle_role(part)}"
                saved[part] = _save_paddle(sources, dirname, prefix)
                description_path = dirname / f"{prefix}.processing.json"
            else:
                folder = dirname / (self.export_folder if part == "keypoint" else "detector")
                single = model_filename if model_filename and len(sources) == 1 and part == "keypoint" else None
                saved[part] = {k: _copy(p, folder / (single or f"{k}.onnx")) for k, p in sources.items()}
                description_path = folder / "model.json"
            description = ({"module": self.name, "version": self.version, "keypoints": self.meta, **self.export_spec()}
                           if part == "keypoint" else {**det.export_spec(), "version": det.version})
            description["models"] = {k: Path(v).name for k, v in saved[part].items()}
            _write_json(description_path, description)
        relative = {part: {k: str(Path(v).relative_to(dirname)) for k, v in models.items()}
                    for part, models in saved.items()}
        spec = {"module": self.name, "version": self.version, "format": format, "options": self.options,
                "models": relative["keypoint"]}
        if det is not None:
            spec["detector"] = {"module": det.name, "thresholds": det.thresholds, "models": relative["detector"]}
        _write_json(dirname / "inference.json", spec)
        return str(dirname)

    def paddle_role(self, part):
        """File-name role of a part in a Paddle export: PaddleHub's 'landmark' for faces and hands, else 'pose'."""
        if part == "detector":
            return "detector"
        return "landmark" if self.export_folder.endswith("landmark") else "pose"


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


def _save_paddle(sources, dirname, prefix):
    """{key: .pdmodel path} of every source, converted (once, through the cache) and copied to dirname/prefix[_key]."""
    saved = {}
    for key, src in sources.items():
        program = Path(src) if is_paddle_model(src) else paddle_convert.cached(src)
        target = dirname / (prefix if len(sources) == 1 else f"{prefix}_{key}")
        _copy(program.with_suffix(".pdiparams"), target.with_suffix(".pdiparams"))
        saved[key] = _copy(program, target.with_suffix(".pdmodel"))
    return saved


def _copy(src, dst):
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return str(dst)


def _write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
