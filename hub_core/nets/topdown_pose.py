"""Any top-down keypoint ONNX model: box crops in, heatmaps (N,K,H,W) or SimCC pairs (N,K,Wx) (N,K,Hy) out;
which one is read from the graph's output shapes."""
import numpy as np

from ..engine import OnnxModel
from ..geometry import apply_affine, invert_affine
from .simcc import decode_simcc
from .tinypose import DECODES, TinyPose, decode_heatmaps


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


class TopDownPose(TinyPose):
    """Crops like TinyPose (box scaled `padding` about its centre, padded to the input's aspect, affine warp;
    RGB, ImageNet mean/std, NCHW) at the model's own input size."""

    def __init__(self, model_path, flip_pairs=(), use_gpu=False, threads=None, padding=1.25):
        self.model = OnnxModel(model_path, use_gpu, threads)
        _, _, self.height, self.width = self.model.input_shape
        if not all(isinstance(v, int) for v in (self.height, self.width)):
            raise ValueError(f"{model_path}: the input needs a fixed height and width, got {self.model.input_shape}")
        self.padding = padding
        outputs = self.model.session.get_outputs()
        self.kind, self.index = output_kind([o.shape for o in outputs])
        k = outputs[self.index if self.kind == "heatmap" else self.index[0]].shape[1]
        self.num_keypoints = k if isinstance(k, int) else None
        n = max([self.num_keypoints or 0] + [max(p) + 1 for p in flip_pairs])
        self.flip_index = np.arange(n)
        for a, b in flip_pairs:
            self.flip_index[a], self.flip_index[b] = b, a

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
        """crops (N, h, w, 3) BGR uint8 and their affines -> keypoints (N, K, 2) image pixels, scores (N, K)."""
        if decode not in DECODES:
            raise ValueError(f"decode must be one of {DECODES}, got {decode!r}")
        if len(crops) == 0:
            k = self.num_keypoints or len(self.flip_index)
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        outs = self.raw(crops, flip_test)
        if self.kind == "heatmap":
            points, scores = decode_heatmaps(outs[0], decode)
            points = points * (self.width / outs[0].shape[-1])  # heatmap cells -> crop pixels
        else:
            points, scores = decode_simcc(outs[0], outs[1], outs[0].shape[-1] / self.width)
        points = np.stack([apply_affine(p, invert_affine(m)) for p, m in zip(points, transforms)])
        return points.astype(np.float32), scores.astype(np.float32)
