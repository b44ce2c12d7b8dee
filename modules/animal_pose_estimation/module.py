"""Animal keypoints: a detector module finds the animals (default: the whole image, for single-animal set-ups),
a top-down keypoint model places the points. Default model: a 4-point top-view mouse model trained with
`hub finetune` on the DeepLabCut openfield example; keypoint_model= runs your own AP-10K ONNX
(heatmap or SimCC outputs)."""
import json
import sys
from pathlib import Path

from hub_core.finetune.runtime import ANIMAL_CLASSES
from hub_core.keypoint import KeypointModule

HERE = Path(__file__).resolve().parent
_noticed = False


class AnimalPoseEstimation(KeypointModule):
    detector_settings = {"yolox_nano_coco": {"classes": ANIMAL_CLASSES}}
    default_output_dir = "animal_pose_output"
    crop_padding = 1.0
    animal_classes = ANIMAL_CLASSES

    def __init__(self, animal_detector_module=None, keypoint_model=None, keypoint_meta=None, padding=None,
                 decode="dark", flip_test=False, detector=None, model_paths=None, threads=None, backend="onnxruntime"):
        """keypoint_model: path of your own top-down ONNX (AP-10K 17 points unless keypoint_meta, a meta dict or
        JSON path, says otherwise; an AP-10K model gets YOLOX-nano animal boxes unless a detector is given);
        padding: its crop scale about the box centre (1.25 when keypoint_model)."""
        model_paths = dict(model_paths or {})
        if keypoint_model is not None:
            model_paths["keypoint"] = str(keypoint_model)
        custom = "keypoint" in model_paths and (keypoint_model is not None or keypoint_meta is not None)
        super().__init__(detector=animal_detector_module or detector, decode=decode, flip_test=bool(flip_test),
                         model_paths=model_paths, threads=threads, backend=backend)
        if isinstance(keypoint_meta, (str, Path)):
            keypoint_meta = json.loads(Path(keypoint_meta).read_text())
        if custom:
            if keypoint_meta is None and (animal_detector_module or detector) is None:
                # general animals: find them, not the whole frame
                self.default_detector = {"name": "yolox_nano_coco", "classes": ANIMAL_CLASSES}
            self.meta = keypoint_meta or self.meta  # keypoints.json: AP-10K
            self.crop_padding = 1.25 if padding is None else float(padding)
            self.options.update(keypoint_meta=self.meta, padding=self.crop_padding)
        else:
            self.meta = json.loads((HERE / "mouse_keypoints.json").read_text())
            _notice_once(getattr(self, "notice", "default model: a 4-point top-view mouse model"))
            if padding is not None:
                self.crop_padding = float(padding)

    def set_animal_detector_module(self, module):
        """A detector module (or its name; "yolox_nano_coco" comes restricted to the COCO animal classes)."""
        self.set_detector(module)

    def get_animal_detector_module(self):
        return self.detector


def _notice_once(notice):
    """One line on stderr (module.json's notice), the first time a process uses the default model, so nobody takes
    mouse points on a dog photo for an animal pose."""
    global _noticed
    if not _noticed:
        _noticed = True
        print(f"hub: animal_pose_estimation {notice}", file=sys.stderr)
