"""PP-TinyPose (top-down heatmap pose): person crops in, heatmaps decoded to image keypoints."""
import cv2
import numpy as np

from ..engine import OnnxModel
from ..geometry import apply_affine, invert_affine
from .blob import imagenet_blob

DECODES = ("dark", "offset")


class TinyPose:
    """Input: person box scaled `padding` about its centre, widened or heightened to the input's
    aspect (w:h = 3:4), affine-warped to 192x256; RGB, ImageNet mean/std, NCHW.
    Output: (17, 64, 48) heatmaps at stride 4."""

    SPEC = {"input": "person box scaled 1.25 about its centre, padded to w:h = 3:4, affine-warped to 192x256 "
                     "(bilinear, black border); RGB, (x/255 - ImageNet mean) / ImageNet std, NCHW float32",
            "output": "heatmaps (1, 17, 64, 48), stride 4, COCO-17 order (the argmax output is unused)",
            "decoding": "argmax per heatmap, refined by DARK (gaussian blur k=11, log, second-order Taylor step) or "
                        "by a 0.25 px shift toward the higher neighbour ('offset'); x4 to crop pixels, inverse "
                        "affine to the image; keypoint score = heatmap max. Optional flip test: heatmaps of the "
                        "mirrored crop flipped back, left/right swapped, shifted 1 px right, averaged."}

    def __init__(self, model_path, flip_pairs, use_gpu=False, threads=None, padding=1.25):
        self.model = OnnxModel(model_path, use_gpu, threads)
        _, _, self.height, self.width = self.model.input_shape
        self.padding = padding
        self.flip_index = np.arange(max(max(p) for p in flip_pairs) + 1)
        for a, b in flip_pairs:
            self.flip_index[a], self.flip_index[b] = b, a

    def transforms(self, boxes):
        """(N, 2, 3) affines mapping each person box (x1,y1,x2,y2,...) to the model's input crop."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, np.shape(boxes)[-1] if len(boxes) else 4)
        centre = (boxes[:, :2] + boxes[:, 2:4]) / 2
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        aspect = self.width / self.height
        w = np.maximum(w, h * aspect) * self.padding
        k = self.width / np.maximum(w, 1e-6)  # crop pixels per image pixel (same in x and y)
        m = np.zeros((len(boxes), 2, 3), np.float32)
        m[:, 0, 0] = m[:, 1, 1] = k
        m[:, :, 2] = np.array([self.width / 2, self.height / 2], np.float32) - k[:, None] * centre
        return m

    def preprocess(self, crops):
        """uint8 BGR (N, 256, 192, 3) -> float32 NCHW RGB, ImageNet-normalised."""
        return imagenet_blob(crops, (self.width, self.height))

    def heatmaps(self, crops, flip_test=False):
        """(N, 17, 64, 48) heatmaps of the crops, averaged with those of the mirrored crops when flip_test."""
        batch = self.preprocess(crops)
        if not flip_test:
            return self.model(batch)[0]
        both = self.model(np.concatenate([batch, batch[..., ::-1]]))[0]
        plain, mirrored = both[:len(batch)], both[len(batch):]
        back = mirrored[:, self.flip_index, :, ::-1]
        # Mirroring maps pixel x to W-1-x; the flipped heatmap is off by one cell (MMPose shift_heatmap).
        back[..., 1:] = back[..., :-1].copy()
        return (plain + back) / 2

    def __call__(self, crops, transforms, decode="dark", flip_test=False):
        """crops (N, 256, 192, 3) BGR uint8 and their affines -> keypoints (N, 17, 2) in image pixels, scores (N, 17)."""
        if decode not in DECODES:
            raise ValueError(f"decode must be one of {DECODES}, got {decode!r}")
        if len(crops) == 0:
            return np.zeros((0, len(self.flip_index), 2), np.float32), np.zeros((0, len(self.flip_index)), np.float32)
        maps = self.heatmaps(crops, flip_test)
        points, scores = decode_heatmaps(maps, decode)
        points = points * (self.width / maps.shape[-1])  # heatmap cells -> crop pixels
        points = np.stack([apply_affine(p, invert_affine(m)) for p, m in zip(points, transforms)])
        return points.astype(np.float32), scores.astype(np.float32)


def decode_heatmaps(maps, decode="dark"):
    """(N, K, H, W) heatmaps -> (N, K, 2) sub-cell x, y in heatmap cells and (N, K) maxima."""
    n, k, h, w = maps.shape
    flat = maps.reshape(n, k, -1)
    idx = flat.argmax(-1)
    scores = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
    x, y = idx % w, idx // w
    points = np.stack([x, y], -1).astype(np.float32)
    if decode == "offset":
        points += offset_refinement(maps, x, y)
    else:
        points += dark_refinement(maps, x, y)
    return points, scores


def offset_refinement(maps, x, y):
    """PaddleDetection / HRNet: a quarter cell toward the higher neighbour, away from the border."""
    n, k, h, w = maps.shape
    ni, ki = np.indices((n, k))
    inside = (x > 0) & (x < w - 1) & (y > 0) & (y < h - 1)
    xc, yc = np.clip(x, 1, w - 2), np.clip(y, 1, h - 2)
    dx = maps[ni, ki, yc, xc + 1] - maps[ni, ki, yc, xc - 1]
    dy = maps[ni, ki, yc + 1, xc] - maps[ni, ki, yc - 1, xc]
    return np.stack([np.sign(dx), np.sign(dy)], -1) * 0.25 * inside[..., None]


def gaussian_blur(maps, kernel=11):
    """Zero-padded gaussian blur of every map, each rescaled to keep its maximum (MMPose DARK)."""
    r = kernel // 2
    h, w = maps.shape[-2:]
    # Zero-pad every map and stack them into one tall image: one OpenCV call blurs them all, and the
    # padding keeps each map's blur from reaching its neighbours.
    padded = np.pad(maps.reshape(-1, h, w).astype(np.float32), ((0, 0), (r, r), (r, r)))
    tall = cv2.GaussianBlur(padded.reshape(-1, w + 2 * r), (kernel, kernel), 0)
    blurred = tall.reshape(padded.shape)[:, r:-r, r:-r].reshape(maps.shape)
    peak = maps.max((-2, -1), keepdims=True)
    return blurred * (peak / np.maximum(blurred.max((-2, -1), keepdims=True), 1e-12))


def dark_refinement(maps, x, y, kernel=11):
    """DARK (Zhang et al. 2020, as in MMPose refine_keypoints_dark): Newton step -H^-1 g on the
    log of the blurred heatmap at the argmax."""
    n, k, h, w = maps.shape
    blurred = gaussian_blur(maps, kernel)
    ni, ki = np.indices((n, k))
    inside = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2)
    xc, yc = np.clip(x, 2, w - 3), np.clip(y, 2, h - 3)

    def at(dy, dx):  # log of the blurred heatmap, taken only where the derivatives need it
        return np.log(np.maximum(blurred[ni, ki, yc + dy, xc + dx], 1e-10))

    gx = 0.5 * (at(0, 1) - at(0, -1))
    gy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
    dyy = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
    dxy = 0.25 * (at(1, 1) - at(-1, 1) - at(1, -1) + at(-1, -1))
    det = dxx * dyy - dxy ** 2
    ok = inside & (det != 0)
    det = np.where(ok, det, 1)
    # Inverse of [[dxx, dxy], [dxy, dyy]] applied to the gradient, negated.
    off_x = -(dyy * gx - dxy * gy) / det
    off_y = -(-dxy * gx + dxx * gy) / det
    return np.stack([off_x, off_y], -1) * ok[..., None]
