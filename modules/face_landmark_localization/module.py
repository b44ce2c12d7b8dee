"""68 iBUG face landmarks: a face detector module + a landmark regressor on square face crops.

API-compatible with PaddleHub's face_landmark_localization, and adds box, box score and
image size per entry, an empty entry for an image without faces, and a choice of model.
"""
from hub_core.keypoint import KeypointModule
from hub_core.nets.landmark_regressor import LandmarkRegressor

# How each landmark network was trained (MANIFEST.json): colour order and the square crop
# around a detector box (side = max(w, h) * scale, same centre).
LANDMARK_MODELS = {
    "mobilefacenet_68": {"colour": "BGR", "crop": {"scale": 1.0, "side": "max"}},
    "pfld_68": {"colour": "RGB", "crop": {"scale": 1.1, "side": "max"}},
}


class FaceLandmarkLocalization(KeypointModule):
    default_output_dir = "face_landmark_output"
    export_folder = "face_landmark"
    call_options = {}

    def __init__(self, face_detector_module=None, landmark_model="mobilefacenet_68", detector=None, **kwargs):
        if landmark_model not in LANDMARK_MODELS:
            raise ValueError(f"landmark_model must be one of {sorted(LANDMARK_MODELS)}, got {landmark_model!r}")
        super().__init__(detector=face_detector_module or detector, **kwargs)
        self.landmark_model = landmark_model
        self.options["landmark_model"] = landmark_model

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
                                 **LANDMARK_MODELS[self.landmark_model])

    def export_spec(self):
        spec = LANDMARK_MODELS[self.landmark_model]
        return {"input": f"square crop around the face box (side = max(w, h) * {spec['crop']['scale']}, same centre), "
                         f"resized to 112x112, {spec['colour']}, x/255, NCHW float32",
                "output": "136 values = 68 x (x, y) normalised to the crop (0..1)",
                "decoding": "reshape (68, 2), multiply by 112, map back through the inverse crop affine"}
