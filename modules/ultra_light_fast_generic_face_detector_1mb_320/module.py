"""UltraLight-Fast-Generic-Face-Detector-1MB, RFB-320: PaddleHub's face detector of that name."""
from hub_core.detector import FaceDetectorModule
from hub_core.nets.ultraface import UltraFace


class UltraLightFaceDetector320(FaceDetectorModule):
    name = "ultra_light_fast_generic_face_detector_1mb_320"
    version = "1.1.0"
    summary = "Face boxes from the 1 MB UltraLight RFB-320 detector (input 320x240)."
    license = "MIT"
    model_files = {
        "ultraface_rfb_320": {
            "file": "ultraface_rfb_320.onnx",
            "sha256": "34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017",
            "size": 1270727,
            "url": "https://raw.githubusercontent.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/"
                   "dffdddda9794a50607cba8f318507a28c1c27cab/models/onnx/version-RFB-320.onnx",
            "origin": "Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB@dffdddd models/onnx/version-RFB-320.onnx",
            "license": "MIT",
        }
    }
    thresholds = {"score_threshold": 0.5, "iou_threshold": 0.5}

    def build_net(self, use_gpu):
        return UltraFace(self.model_path("ultraface_rfb_320"), use_gpu, self.threads)

    def export_spec(self):
        return {**super().export_spec(), **UltraFace.SPEC}
