"""YOLOX-nano 416x416, COCO-80: a general object detector and the default person detector."""
from hub_core.detector import DetectorModule
from hub_core.nets.yolox import YoloX

COCO_CLASSES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
]


class YoloxNanoCoco(DetectorModule):
    labels = COCO_CLASSES
    thresholds = {"score_threshold": 0.25, "iou_threshold": 0.45}
    options = {"classes": None}  # None (all) or a list of class names / indices that detect() returns

    def build_net(self, use_gpu):
        return YoloX(self.model_path("yolox_nano_416x416"), use_gpu, self.threads)

    def option_schemas(self):
        return {"classes": {"type": "array", "items": {"type": "string", "enum": self.labels},
                            "description": "keep only these classes (default: all)"}}

    def detect(self, images, use_gpu=False, **settings):
        settings = {**self.settings, **settings}
        settings["classes"] = self.class_indices(settings["classes"])
        return self.net(use_gpu)(images, **settings)

    def class_indices(self, classes):
        if classes is None:
            return None
        if isinstance(classes, (str, int)):
            classes = [classes]
        indices = []
        for c in classes:
            if isinstance(c, str):
                if c not in self.labels:
                    raise ValueError(f"{self.name}: unknown class {c!r}; see .labels")
                indices.append(self.labels.index(c))
            elif 0 <= int(c) < len(self.labels):
                indices.append(int(c))
            else:
                raise ValueError(f"{self.name}: class index {c} outside 0..{len(self.labels) - 1}")
        return indices

    def object_detection(self, images=None, paths=None, batch_size=1, use_gpu=False, output_dir="detection_result",
                         visualization=False, strict=False, **thresholds):
        """[{'data': [{'left','top','right','bottom','confidence','label'}], 'path', 'image_size'}], one per input."""
        return self.boxes_result(images, paths, batch_size, use_gpu, output_dir, visualization, strict, **thresholds)

    def export_spec(self):
        return {**super().export_spec(), **YoloX.SPEC}
