"""The top-down pose network: a box crop in, heatmaps (N,K,H,W) or SimCC pairs (N,K,Wx) (N,K,Hy) out (read from
the graph's output shapes), decoded to image keypoints. PP-TinyPose, RTMPose-style SimCC models and the models
`hub finetune` writes are configurations of it."""
import numpy as np

from ..engine import OnnxModel
from .blob import IMAGENET_MEAN, IMAGENET_STD, blob
from .heatmap import DECODES, decode_heatmaps
from .keypoints import Keypoints, back_to_image
from .simcc import decode_simcc


def output_kind(shapes):
    """('heatmap', index) for the first rank-4 output, ('simcc', (ix, iy)) for the first two rank-3 outputs."""
    ranks = [len(s) for s in shapes]
    if 4 in ranks:
        return "heatmap", ranks.index(4)
    rank3 = [i for i, r in enumerate(ranks) if r == 3]
    if len(rank3) >= 2:
        return "simcc", tuple(rank3[:2])
    raise ValueError(f"keypoint model outputs {shapes}: expected heatmaps (N, K, H, W) or a SimCC pair "
                     "(N, K, Wx), (N, K, Hy)")


def box_transforms(boxes, size, padding):
    """(N, 2, 3) affines mapping each box (x1, y1, x2, y2, ...) scaled `padding` about its centre and widened
    or heightened to the crop's aspect onto a crop of size (w, h)."""
    width, height = size
    boxes = np.asarray(boxes, np.float32).reshape(-1, np.shape(boxes)[-1] if len(boxes) else 4)
    centre = (boxes[:, :2] + boxes[:, 2:4]) / 2
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    w = np.maximum(w, h * (width / height)) * padding
    k = width / np.maximum(w, 1e-6)  # crop pixels per image pixel (same in x and y)
    m = np.zeros((len(boxes), 2, 3), np.float32)
    m[:, 0, 0] = m[:, 1, 1] = k
    m[:, :, 2] = np.array([width / 2, height / 2], np.float32) - k[:, None] * centre
    return m


class TopDownPose:
    """Crops: box scaled `padding` about its centre, padded to the input's aspect, affine warp, at the model's
    own input size. Input: (x - mean) / std per channel (0..255 scale), RGB unless rgb=False, NCHW."""

    def __init__(self, model_path, flip_pairs=(), use_gpu=False, threads=None, padding=1.25,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, rgb=True):
        self.model = OnnxModel(model_path, use_gpu, threads)
        _, _, self.height, self.width = self.model.input_shape
        if not all(isinstance(v, int) for v in (self.height, self.width)):
            raise ValueError(f"{model_path}: the input needs a fixed height and width, got {self.model.input_shape}")
        self.crop_size = (self.width, self.height)
        self.padding, self.mean, self.std, self.rgb = padding, mean, np.asarray(std, np.float32), rgb
        outputs = self.model.session.get_outputs()
        self.kind, self.index = output_kind([o.shape for o in outputs])
        k = outputs[self.index if self.kind == "heatmap" else self.index[0]].shape[1]
        self.num_keypoints = k if isinstance(k, int) else None
        n = max([self.num_keypoints or 0] + [max(p) + 1 for p in flip_pairs])
        self.flip_index = np.arange(n)
        for a, b in flip_pairs:
            self.flip_index[a], self.flip_index[b] = b, a

    def transforms(self, boxes):
        """(N, 2, 3) affines mapping each box to the model's input crop."""
        return box_transforms(boxes, self.crop_size, self.padding)

    def preprocess(self, crops):
        """uint8 BGR (N, h, w, 3) -> float32 NCHW, normalised."""
        x = blob(crops, self.crop_size, self.mean, rgb=self.rgb)
        x /= self.std[:, None, None]
        return x

    def raw(self, crops, flip_test=False):
        """Network outputs of the crops: [heatmaps] or [simcc_x, simcc_y], flip-averaged when flip_test."""
        batch = self.preprocess(crops)
        n = len(batch)
        if flip_test:
            batch = np.concatenate([batch, batch[..., ::-1]])
        outs = self.model(batch)
        picked = [outs[self.index]] if self.kind == "heatmap" else [outs[i] for i in self.index]
        if not flip_test:
            return picked
        if self.kind == "heatmap":
            maps = picked[0]
            back = maps[n:, self.flip_index, :, ::-1]
            back[..., 1:] = back[..., :-1].copy()  # mirroring maps x to W-1-x: one cell off (MMPose shift_heatmap)
            return [(maps[:n] + back) / 2]
        sx, sy = picked
        return [(sx[:n] + sx[n:, self.flip_index, ::-1]) / 2, (sy[:n] + sy[n:, self.flip_index]) / 2]

    def __call__(self, crops, transforms, decode="dark", flip_test=False):
        """crops (N, h, w, 3) BGR uint8 and their affines -> Keypoints: points (N, K, 2) image pixels, scores (N, K)."""
        if decode not in DECODES:
            raise ValueError(f"decode must be one of {DECODES}, got {decode!r}")
        if len(crops) == 0:
            k = self.num_keypoints or len(self.flip_index)
            return Keypoints(np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32))
        outs = self.raw(crops, flip_test)
        if self.kind == "heatmap":
            points, scores = decode_heatmaps(outs[0], decode)
            points = points * (self.width / outs[0].shape[-1])  # heatmap cells -> crop pixels
        else:
            points, scores = decode_simcc(outs[0], outs[1], outs[0].shape[-1] / self.width)
        return Keypoints(back_to_image(points, transforms).astype(np.float32), scores.astype(np.float32))
