"""PP-PicoDet-S 320 (LCNet) pedestrian detector: person boxes, a swap-in for the body modules."""
from hub_core.detector import DetectorModule
from hub_core.nets.picodet import PicoDet


class PicodetS320Pedestrian(DetectorModule):
    name = "picodet_s_320_pedestrian"
    version = "1.0.0"
    type = "object_detection"
    summary = "Person boxes from PP-PicoDet-S 320 LCNet pedestrian (input 320x320, stretched)."
    license = "Apache-2.0 (PaddleDetection); the converted file's deploy repo states no licence"
    labels = ["person"]
    model_files = {
        "picodet_s_320_lcnet_pedestrian": {
            "file": "picodet_s_320_lcnet_pedestrian.onnx",
            "sha256": "22365459b7daf4743b0fd26313da0020f2dbd443a608e26f5f12a77d26108d3e",
            "size": 4664929,
            "url": None,
            "origin": "guojin-yan/Csharp_and_OpenVINO_deploy_PP-TinyPose@0f6a484 model/picodet_v2_s_320_pedestrian/"
                      "ir_fp16 (PaddleDetection PP-PicoDet, exported without NMS), OpenVINO IR converted to ONNX",
            "license": "Apache-2.0 origin; deploy repo states no licence",
        }
    }
    thresholds = {"score_threshold": 0.4, "iou_threshold": 0.5}

    def build_net(self, use_gpu):
        return PicoDet(self.model_path("picodet_s_320_lcnet_pedestrian"), use_gpu, self.threads)

    def object_detection(self, images=None, paths=None, batch_size=1, use_gpu=False, output_dir="detection_result",
                         visualization=False, strict=False, **thresholds):
        """[{'data': [{'left','top','right','bottom','confidence','label'}], 'path', 'image_size'}], one per input."""
        return self.boxes_result(images, paths, batch_size, use_gpu, output_dir, visualization, strict, **thresholds)

    def export_spec(self):
        return {**super().export_spec(), **PicoDet.SPEC}
