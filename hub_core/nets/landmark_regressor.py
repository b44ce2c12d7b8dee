"""Face landmark regressors (MobileFaceNet-68, PFLD-68): square crop in, 68 normalised (x, y) out."""
import numpy as np

from ..engine import OnnxModel
from ..geometry import square_box_transform, warp_crops
from .keypoints import Keypoints, back_to_image


class LandmarkRegressor:
    """A direct-regression landmark network.

    crop: dict(scale, shift=(dx, dy), side='max'|'min') describing the square the model
    expects around a detector box; colour 'BGR' or 'RGB'; pixels scaled by 1/255.
    """

    def __init__(self, model_path, crop, colour, use_gpu=False, threads=None):
        self.model = OnnxModel(model_path, use_gpu, threads)
        self.size = self.model.input_shape[-1]
        self.crop_size = (self.size, self.size)
        self.crop = crop
        self.colour = colour

    def transforms(self, boxes):
        """(N, 2, 3) affines mapping the square around each box to the model's input crop."""
        return np.array([square_box_transform(b, self.size, self.crop["scale"], self.crop.get("shift", (0, 0)),
                                              self.crop.get("side", "max")) for b in boxes], np.float32).reshape(-1, 2, 3)

    def preprocess(self, crops):
        """uint8 BGR (N, s, s, 3) -> float32 NCHW in the model's colour order, 0..1."""
        if self.colour == "RGB":
            crops = crops[..., ::-1]
        return crops.transpose(0, 3, 1, 2).astype(np.float32) * (1.0 / 255.0)

    def __call__(self, crops, transforms):
        """crops (N, s, s, 3) BGR uint8 and their affines -> Keypoints: points (N, 68, 2) image coordinates."""
        if len(crops) == 0:
            return Keypoints(np.zeros((0, 68, 2), np.float32))
        (out,) = self.model(self.preprocess(crops))[:1]
        return Keypoints(back_to_image(out.reshape(len(crops), -1, 2) * self.size, transforms))

    def predict(self, image, boxes):
        ms = self.transforms(boxes)
        return self(warp_crops(image, ms, self.crop_size), ms).points
