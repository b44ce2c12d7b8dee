"""The top-down keypoint module: a swappable detector finds the instances, a keypoint network places the points
on each instance's crop. A module is a configuration of it: its model files, its default detector (data), and
where they differ from the generic ones its network (build_net) and its instance score (instance_scores)."""
import json
import shutil
from pathlib import Path

import numpy as np

from . import batching, draw, images as imio, store
from .detector import DetectorModule, Detections, detections_of
from .engine import stages
from .geometry import warp_crops
from .module import Module, ModuleBase
from .nets.heatmap import DECODES
from .nets.topdown_pose import TopDownPose
from .paddle_engine import is_paddle_model

RESULT_SCHEMA_VERSION = "1.1"  # 1.1: hands add world_keypoints and keypoint_depths


class KeypointModule(ModuleBase):
    type = "keypoint_detection"
    detector_settings = {}      # {detector name: settings} used when a detector is given by its name
    default_output_dir = None   # where visualisations go (default: <name>_output)
    export_folder = "keypoint"  # save_inference_model sub-folder of the keypoint model
    crop_padding = 1.25         # the generic network's box scale about its centre
    call_options = {"decode": "dark", "flip_test": False}  # keypoint_detection() options; constructor defaults

    def __init__(self, detector=None, model_paths=None, threads=None, backend="onnxruntime", **options):
        super().__init__(model_paths, backend)
        self.meta = json.loads((self.directory / "keypoints.json").read_text())
        self.threads = threads
        self.call_options = self.checked_options(options)
        self.options = dict(self.call_options)  # constructor options that save_inference_model records
        self.default_output_dir = self.default_output_dir or f"{self.name}_output"
        self._detector = None
        if detector is not None:
            self.set_detector(detector)

    def checked_options(self, options):
        """The call options with these set; an unknown name is a TypeError naming it."""
        unknown = sorted(set(options) - set(type(self).call_options))
        if unknown:
            raise TypeError(f"{self.name}: unknown option(s) {', '.join(map(repr, unknown))}; "
                            f"known: {', '.join(sorted(type(self).call_options)) or 'none'}")
        if options.get("decode", DECODES[0]) not in DECODES:
            raise ValueError(f"decode must be one of {DECODES}, got {options['decode']!r}")
        return {**self.call_options, **options}

    @property
    def decode(self):
        return self.call_options.get("decode")

    @property
    def flip_test(self):
        return self.call_options.get("flip_test")

    # --- detector -------------------------------------------------------------------
    @property
    def detector(self):
        if self._detector is None:
            spec = self.default_detector
            self._detector = Module(**(spec if isinstance(spec, dict) else {"name": spec}), threads=self.threads,
                                    backend=self.backend)
        return self._detector

    def set_detector(self, module):
        """A detector module, any object with the detector protocol, or a detector module's name."""
        if isinstance(module, str):
            module = Module(name=module, threads=self.threads, backend=self.backend,
                            **self.detector_settings.get(module, {}))
        if not callable(getattr(module, "detect", None)):
            raise TypeError(f"{type(module).__name__} is not a detector: it has no detect(images) method")
        self._detector = module

    def detect(self, images, use_gpu=False):
        """Per image the Detections handed to estimate()."""
        return detections_of(self.detector, images, use_gpu)

    # --- the keypoint network -------------------------------------------------------
    def active_models(self):
        """Keys of model_files this instance runs (what save_inference_model copies)."""
        return list(self.model_files)

    def source_path(self, key):
        """A module's own models/ folder (where `hub finetune` writes them) first, then the store."""
        if key not in self._model_paths and key in self.model_files:
            shipped = self.directory / "models" / self.model_files[key]["file"]
            if shipped.is_file() and store.sha256_of(shipped) == self.model_files[key]["sha256"]:
                return shipped
        return super().source_path(key)

    def build_net(self, use_gpu):
        net = TopDownPose(self.model_path(self.active_models()[0]), self.meta.get("flip_pairs", []), use_gpu,
                          self.threads, padding=self.crop_padding)
        k = len(self.meta["keypoints"])
        if net.num_keypoints not in (None, k):
            raise ValueError(f"{self.name}: the keypoint model predicts {net.num_keypoints} keypoints, its meta "
                             f"names {k}")
        return net

    def export_spec(self):
        """JSON-able pre/post-processing description written beside the exported model."""
        return {"input": f"detector box scaled {self.crop_padding} about its centre, padded to the model input's "
                         "aspect, affine-warped to the input size (bilinear, black border); RGB, (x/255 - ImageNet "
                         "mean) / ImageNet std, NCHW float32",
                "output": "heatmaps (N, K, H, W) or SimCC (N, K, Wx), (N, K, Hy), told apart by rank",
                "decoding": "heatmaps: argmax + DARK or 0.25-cell offset, x stride; SimCC: argmax / split ratio; "
                            "inverse affine to the image; score = map maximum (SimCC: lower of the two)",
                **self.call_options, "padding": self.crop_padding}

    def estimate(self, images, detections, use_gpu=False, **options):
        """Per image a list of instance dicts {'keypoints' (K,2), 'keypoint_scores' (K,) or None[, 'score']}:
        every instance of the chunk cropped, and run through the network, at once."""
        net = self.net(use_gpu)
        transforms = [net.transforms(det.boxes) for det in detections]
        found = net(crop_instances(images, transforms, net.crop_size), np.concatenate(transforms), **options)
        scores = self.instance_scores(found.scores, np.concatenate([det.scores for det in detections]))
        return [[{"keypoints": found.points[i],
                  "keypoint_scores": None if found.scores is None else found.scores[i],
                  **({} if scores is None else {"score": float(scores[i])})} for i in rows]
                for rows in image_ranges(transforms)]

    def instance_scores(self, keypoint_scores, box_scores):
        """(N,) instance scores, or None: mean keypoint score x box score."""
        return None if keypoint_scores is None else keypoint_scores.mean(1) * box_scores

    def finish(self, det, instances):
        """One image's detections and instances as they are reported (a module may drop or re-box some)."""
        return det, instances

    # --- the public calls -----------------------------------------------------------
    def keypoint_detection(self, images=None, paths=None, batch_size=1, use_gpu=False, output_dir=None,
                           visualization=False, boxes=None, strict=False, **options):
        """One entry per input image, in order:
        {'data': [[[x, y], ...] per instance], 'instances': [{'box', 'box_score', 'label', 'keypoints',
        'keypoint_scores'}], 'path', 'image_size': {'width', 'height'}[, 'save_path'][, 'error']}.

        boxes: optional per-image lists of [x1, y1, x2, y2(, score)] that replace the detector (label 'object').
        strict: raise on the first bad input instead of returning an entry with 'error'.
        """
        options = self.checked_options(options)
        items = batching.gather(images, paths)
        if boxes is not None and len(boxes) != len(items):
            raise ValueError(f"boxes has {len(boxes)} entries for {len(items)} images")
        output_dir = output_dir or self.default_output_dir
        used_names = set()
        self.net(use_gpu)  # configuration errors (no CUDA, missing model file) raise here, not per image
        if boxes is None and isinstance(self.detector, DetectorModule):
            self.detector.net(use_gpu)

        def process(imgs, chunk):
            if boxes is None:
                with stages("detector"):
                    dets = self.detect(imgs, use_gpu)
            else:
                dets = [Detections.given(boxes[item.index], item.name) for item in chunk]
            entries = []
            for image, item, det, instances in zip(imgs, chunk, dets, self.estimate(imgs, dets, use_gpu, **options)):
                entry = self.entry(image, item.path, *self.finish(det, instances))
                if visualization:
                    entry["save_path"] = draw.save(draw.draw(image, entry, self.meta), output_dir,
                                                   item.path or f"image_{item.index}", used_names)
                entries.append(entry)
            return entries

        return batching.run(items, batch_size, process, strict)

    predict = keypoint_detection  # the generic entry point used by `hub run` and serving

    def __call__(self, image, boxes=None, use_gpu=False, **options):
        """One BGR image (an array) -> arrays, unrounded: {'boxes' (N,4), 'box_scores' (N,), 'labels' [N],
        'keypoints' (N,K,2), 'keypoint_scores' (N,K) or None, 'scores' (N,) instance scores or None}."""
        options = self.checked_options(options)
        image = imio.to_bgr(image)
        det = self.detect([image], use_gpu)[0] if boxes is None else Detections.given(boxes, "boxes")
        det, instances = self.finish(det, self.estimate([image], [det], use_gpu, **options)[0])
        k = len(self.meta["keypoints"])
        points = np.array([i["keypoints"] for i in instances], np.float32).reshape(-1, k, 2)
        scores = [i["keypoint_scores"] for i in instances]
        has_scores = bool(instances) and scores[0] is not None
        return {"boxes": det.boxes, "box_scores": det.scores, "labels": det.labels, "keypoints": points,
                "keypoint_scores": np.array(scores, np.float32).reshape(-1, k) if has_scores else None,
                "scores": np.array([i["score"] for i in instances]) if instances and "score" in instances[0] else None}

    def entry(self, image, path, det, instances):
        out = []
        for box, box_score, label, inst in zip(det.boxes, det.scores, det.labels, instances):
            scores = inst.get("keypoint_scores")
            record = {"box": [float(v) for v in box], "box_score": float(box_score), "label": label,
                      "keypoints": np.asarray(inst["keypoints"], np.float64).round(3).tolist(),
                      "keypoint_scores": None if scores is None else np.asarray(scores, np.float64).round(4).tolist()}
            if "score" in inst:
                record["score"] = round(inst["score"], 4)
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
        spec = {"module": self.name, "version": self.version, "mode": getattr(self, "mode", None), "format": format,
                "options": self.options,
                "models": relative["keypoint"]}
        if det is not None:
            spec["detector"] = {"module": det.name, "thresholds": det.thresholds, "options": det.options,
                                "models": relative["detector"]}
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
    with stages("crop"):
        return np.concatenate([warp_crops(image, ms, size) for image, ms in zip(images, transforms)])


def image_ranges(per_image):
    """range of each image's rows in a batch stacked from per_image (lists of per-instance items)."""
    bounds = np.cumsum([0] + [len(items) for items in per_image])
    return [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def _save_paddle(sources, dirname, prefix):
    """{key: .pdmodel path} of every source, converted (once, through the cache) and copied to dirname/prefix[_key]."""
    from . import paddle_convert
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
