"""UltraLight-Fast-Generic-Face-Detector-1MB, RFB-640: PaddleHub's face detector of that name."""
from hub_core.detector import FaceDetectorModule
from hub_core.nets.ultraface import UltraFace


class UltraLightFaceDetector640(FaceDetectorModule):
    thresholds = {"score_threshold": 0.5, "iou_threshold": 0.5}

    def build_net(self, use_gpu):
        return UltraFace(self.model_path("ultraface_rfb_640"), use_gpu, self.threads)

    def export_spec(self):
        return {**super().export_spec(), **UltraFace.SPEC}
