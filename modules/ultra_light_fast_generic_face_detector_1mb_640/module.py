"""UltraLight-Fast-Generic-Face-Detector-1MB, RFB-640: PaddleHub's face detector of that name."""
from hub_core.detector import FaceDetectorModule
from hub_core.nets.ultraface import UltraFace


class UltraLightFaceDetector640(FaceDetectorModule):
    name = "ultra_light_fast_generic_face_detector_1mb_640"
    version = "1.1.0"
    summary = "Face boxes from the 1 MB UltraLight RFB-640 detector (input 640x480)."
    license = "MIT"
    model_files = {
        "ultraface_rfb_640": {
            "file": "ultraface_rfb_640.onnx",
            "sha256": "8f4c659275977e7a3bfbfa339a9c769ad793df50f9c0baa8c14b11baa1646430",
            "size": 1588012,
            "url": "https://raw.githubusercontent.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/"
                   "dffdddda9794a50607cba8f318507a28c1c27cab/models/onnx/version-RFB-640.onnx",
            "origin": "Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB@dffdddd models/onnx/version-RFB-640.onnx",
            "license": "MIT",
        }
    }
    thresholds = {"score_threshold": 0.5, "iou_threshold": 0.5}

    def build_net(self, use_gpu):
        return UltraFace(self.model_path("ultraface_rfb_640"), use_gpu, self.threads)

    def export_spec(self):
        return {**super().export_spec(), **UltraFace.SPEC}
