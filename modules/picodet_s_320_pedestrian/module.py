"""PP-PicoDet-S 320 (LCNet) pedestrian detector: person boxes, a swap-in for the body modules."""
from hub_core.detector import DetectorModule
from hub_core.nets.picodet import PicoDet


class PicodetS320Pedestrian(DetectorModule):
    labels = ["person"]
    thresholds = {"score_threshold": 0.4, "iou_threshold": 0.5}

    def build_net(self, use_gpu):
        return PicoDet(self.model_path("picodet_s_320_lcnet_pedestrian"), use_gpu, self.threads)

    def object_detection(self, images=None, paths=None, batch_size=1, use_gpu=False, output_dir="detection_result",
                         visualization=False, strict=False, **thresholds):
        """[{'data': [{'left','top','right','bottom','confidence','label'}], 'path', 'image_size'}], one per input."""
        return self.boxes_result(images, paths, batch_size, use_gpu, output_dir, visualization, strict, **thresholds)

    def export_spec(self):
        return {**super().export_spec(), **PicoDet.SPEC}
