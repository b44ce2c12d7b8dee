"""68 iBUG face landmarks: a face detector module + a landmark regressor on square face crops.

API-compatible with PaddleHub's face_landmark_localization, and adds box, box score and
image size per entry, an empty entry for an image without faces, and a choice of model.
"""
import numpy as np

from hub_core.keypoint import KeypointModule, crop_instances, image_ranges
from hub_core.nets.landmark_regressor import LandmarkRegressor
from hub_core.refine import flip_index, landmark_transforms, predict_with_flip

# How each landmark network reads a face: colour order (MANIFEST.json) and the square crop around a face box
# (side = max(w, h) * scale, centre shifted by shift * side). "trained_crop" is the one its author used around
# their own boxes; "crop", used, was fitted to UltraLight's boxes (this module's detectors) on 300-W AFW by
# benchmarks/fit_face_crop.py: UltraLight frames a face higher and looser.
LANDMARK_MODELS = {
    "mobilefacenet_68": {"colour": "BGR", "trained_crop": {"scale": 1.0, "shift": (0.0, 0.0)},
                         "crop": {"scale": 0.95, "shift": (0.0, 0.075), "side": "max"}},
    "pfld_68": {"colour": "RGB", "trained_crop": {"scale": 1.1, "shift": (0.0, 0.0)},
                "crop": {"scale": 1.0, "shift": (0.0, 0.1), "side": "max"}},
}

# The second pass's crop around the first pass's landmark box, fitted on 300-W AFW only
# (benchmarks/fit_face_refinement.py): side = max(w, h) x scale, centre shifted by shift x side.
REFINE_CROP = {"scale": 1.15, "shift": (0.02, -0.025)}


class FaceLandmarkLocalization(KeypointModule):
    default_output_dir = "face_landmark_output"
    export_folder = "face_landmark"
    call_options = {}

    def __init__(self, face_detector_module=None, landmark_model="mobilefacenet_68", flip=False, refine_passes=0,
                 refine_scale=REFINE_CROP["scale"], refine_shift=REFINE_CROP["shift"], crop_scale=None, crop_shift=None,
                 detector=None, **kwargs):
        """crop_scale, crop_shift: the first pass's square crop around each face box (side = max(w, h) x
        crop_scale, centre shifted by crop_shift x side); None: the landmark network's crop for UltraLight boxes.
        flip: average each pass with the mirrored crop. refine_passes: further passes, each on a square crop
        rebuilt from the previous pass's landmarks (side = max(w, h) of their box x refine_scale, centre shifted
        by refine_shift x side)."""
        if landmark_model not in LANDMARK_MODELS:
            raise ValueError(f"landmark_model must be one of {sorted(LANDMARK_MODELS)}, got {landmark_model!r}")
        if int(refine_passes) < 0:
            raise ValueError(f"refine_passes must be 0 or more, got {refine_passes!r}")
        super().__init__(detector=face_detector_module or detector, **kwargs)
        self.landmark_model = landmark_model
        self.flip = bool(flip)
        self.refine_passes = int(refine_passes)
        self.refine_scale = float(refine_scale)
        self.refine_shift = tuple(float(v) for v in refine_shift)
        crop = LANDMARK_MODELS[landmark_model]["crop"]
        self.crop = {**crop, "scale": float(crop["scale"] if crop_scale is None else crop_scale),
                     "shift": tuple(float(v) for v in (crop["shift"] if crop_shift is None else crop_shift))}
        self.options.update({"landmark_model": landmark_model, "flip": self.flip, "refine_passes": self.refine_passes,
                             "refine_scale": self.refine_scale, "refine_shift": list(self.refine_shift),
                             "crop_scale": self.crop["scale"], "crop_shift": list(self.crop["shift"])})

    def set_face_detector_module(self, module):
        self.set_detector(module)

    def get_face_detector_module(self):
        return self.detector

    def keypoint_detection(self, images=None, paths=None, batch_size=1, use_gpu=False,
                           output_dir="face_landmark_output", visualization=False, **kwargs):
        return super().keypoint_detection(images, paths, batch_size, use_gpu, output_dir, visualization, **kwargs)

    def active_models(self):
        return [self.landmark_model]

    def build_net(self, use_gpu):
        return LandmarkRegressor(self.model_path(self.landmark_model), use_gpu=use_gpu, threads=self.threads,
                                 crop=self.crop, colour=LANDMARK_MODELS[self.landmark_model]["colour"])

    def export_spec(self):
        crop, colour = self.crop, LANDMARK_MODELS[self.landmark_model]["colour"]
        return {"input": f"square crop around the face box (side = max(w, h) * {crop['scale']}, centre shifted by "
                         f"{list(crop['shift'])} * side), resized to 112x112, {colour}, x/255, NCHW float32",
                "output": "136 values = 68 x (x, y) normalised to the crop (0..1)",
                "decoding": "reshape (68, 2), multiply by 112, map back through the inverse crop affine"}

    def estimate(self, images, detections, use_gpu=False, **options):
        net = self.net(use_gpu)
        transforms = [net.transforms(det.boxes) for det in detections]
        rows = image_ranges(transforms)
        points = self.landmarks(net, images, transforms)
        for _ in range(self.refine_passes):
            transforms = [landmark_transforms(points[r], net.size, self.refine_scale, self.refine_shift) for r in rows]
            points = self.landmarks(net, images, transforms)
        return [[{"keypoints": points[i], "keypoint_scores": None} for i in r] for r in rows]

    def landmarks(self, net, images, transforms):
        """(N, 68, 2) image points of every face of the chunk in one batch (with their mirror images when flip)."""
        crops = crop_instances(images, transforms, (net.size, net.size))
        flat = np.concatenate(transforms) if len(crops) else np.zeros((0, 2, 3), np.float32)
        predict = lambda c, t: net(c, t).points  # noqa: E731
        if self.flip:
            return predict_with_flip(predict, crops, flat,
                                     flip_index(self.meta["flip_pairs"], len(self.meta["keypoints"])))
        return predict(crops, flat)
