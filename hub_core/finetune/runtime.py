"""The class modules written by `hub finetune` before the generic top-down module took their place still import."""
from ..keypoint import KeypointModule

# COCO's animal classes: what yolox_nano_coco keeps when it is an animal detector.
ANIMAL_CLASSES = ["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"]


class FinetunedKeypointModule(KeypointModule):
    default_detector = "whole_image_detector"
    crop_padding = 1.0
