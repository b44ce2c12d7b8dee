"""Training samples for `hub finetune`: labelled instances read from COCO keypoint JSON or a DeepLabCut
CSV (the readers of `hub eval`), cropped the way the runtime crops them, augmented, with target heatmaps."""

import cv2
import numpy as np

from ..annotations import load_annotations
from ..nets.blob import IMAGENET_MEAN, IMAGENET_STD
from ..nets.topdown_pose import box_transforms

CROPS = ("image", "box")  # the whole image (single animal, whole_image_detector) or the annotated box


def load_samples(ann, images_dir, meta, crop="image"):
    """(samples, images): one sample per labelled instance {'image' index, 'keypoints' (K,2), 'visible' (K,),
    'box' [x1,y1,x2,y2] the crop is made from}; images are the decoded BGR frames (each read once)."""
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    data = load_annotations(ann, images_dir, len(meta["keypoints"]), meta["keypoints"])
    samples, images = [], []
    for im in data["images"]:
        instances = [inst for inst in im["instances"] if not inst["ignore"]]
        if not instances:
            continue
        image = cv2.imread(im["path"], cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"{data['file']}: image {im['path']} cannot be read")
        images.append(image)
        h, w = image.shape[:2]
        for inst in instances:
            box = [0.0, 0.0, float(w), float(h)] if crop == "image" else [float(v) for v in inst["box"]]
            samples.append({"image": len(images) - 1, "path": im["path"], "keypoints": inst["keypoints"].astype(np.float32),
                            "visible": inst["visible"].astype(bool), "box": box})
    if not samples:
        raise ValueError(f"{ann}: no labelled instances")
    return samples, images, data["format"]


def split(samples, val_split, seed):
    """(train indices, val indices), split by image with a seeded shuffle; val_split < 1 is a fraction,
    >= 1 a number of images."""
    frames = sorted({s["image"] for s in samples})
    order = np.random.default_rng(seed).permutation(len(frames))
    n_val = int(round(val_split * len(frames))) if val_split < 1 else int(val_split)
    val_frames = {frames[i] for i in order[:n_val]}
    train = [i for i, s in enumerate(samples) if s["image"] not in val_frames]
    val = [i for i, s in enumerate(samples) if s["image"] in val_frames]
    return train, val


def crop_transforms(boxes, size, padding):
    """(N, 2, 3) image -> crop affines, exactly the runtime's (TopDownPose.transforms)."""
    return box_transforms(np.asarray(boxes, np.float32), size, padding)


def _as3(m):
    return np.vstack([m, [0, 0, 1]]).astype(np.float64)


class Augment:
    """Random scale / rotation about the crop centre, horizontal flip with left/right swaps, colour jitter."""

    def __init__(self, flip_pairs=(), num_keypoints=0, scale=0.25, rotation=30.0, flip=0.5, colour=0.2):
        self.scale, self.rotation, self.flip, self.colour = scale, rotation, flip, colour
        self.flip_index = np.arange(num_keypoints)
        for a, b in flip_pairs:
            self.flip_index[a], self.flip_index[b] = b, a

    def affine(self, rng, size):
        """(2x3 crop -> augmented crop affine, flipped?)"""
        w, h = size
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-self.rotation, self.rotation),
                                    rng.uniform(1 - self.scale, 1 + self.scale))
        flipped = rng.random() < self.flip and self.flip > 0
        if flipped:
            m = (_as3([[-1, 0, w - 1], [0, 1, 0]]) @ _as3(m))[:2]
        return m.astype(np.float32), flipped

    def colours(self, crops, rng):
        """Brightness, contrast and saturation each scaled by 1 +/- colour, per crop (float32 BGR)."""
        n = len(crops)
        c = self.colour
        b, k, s = (rng.uniform(1 - c, 1 + c, (3, n, 1, 1, 1))).astype(np.float32)
        out = crops * b
        mean = out.mean((1, 2, 3), keepdims=True)
        out = (out - mean) * k + mean
        gray = out.mean(-1, keepdims=True)
        return np.clip((out - gray) * s + gray, 0, 255)


def make_batch(samples, images, indices, size, padding, stride, sigma=2.0, augment=None, rng=None):
    """Network input (N, 3, H, W) float32, target heatmaps (N, K, H/s, W/s), keypoint weights (N, K) and
    the image -> crop affines (N, 2, 3)."""
    w, h = size
    transforms = crop_transforms([samples[i]["box"] for i in indices], size, padding)
    crops = np.empty((len(indices), h, w, 3), np.uint8)
    points, visible = [], []
    for j, i in enumerate(indices):
        s = samples[i]
        m, kp, vis = transforms[j], s["keypoints"], s["visible"].copy()
        if augment is not None:
            extra, flipped = augment.affine(rng, size)
            m = (_as3(extra) @ _as3(m))[:2].astype(np.float32)
            transforms[j] = m
        cv2.warpAffine(images[s["image"]], m, (w, h), dst=crops[j], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        p = kp @ m[:, :2].T + m[:, 2]
        if augment is not None and flipped:
            p, vis = p[augment.flip_index], vis[augment.flip_index]
        points.append(p)
        visible.append(vis & (p[:, 0] >= 0) & (p[:, 0] <= w - 1) & (p[:, 1] >= 0) & (p[:, 1] <= h - 1))
    pixels = crops.astype(np.float32)
    if augment is not None and augment.colour > 0:
        pixels = augment.colours(pixels, rng)
    batch = ((pixels[..., ::-1] - IMAGENET_MEAN) / IMAGENET_STD).transpose(0, 3, 1, 2)
    points = np.asarray(points, np.float32) / stride
    gx = np.exp(-(np.arange(w // stride)[None, None] - points[..., :1]) ** 2 / (2 * sigma ** 2))
    gy = np.exp(-(np.arange(h // stride)[None, None] - points[..., 1:]) ** 2 / (2 * sigma ** 2))
    targets = gy[..., :, None] * gx[..., None, :]
    return (np.ascontiguousarray(batch, np.float32), targets.astype(np.float32),
            np.asarray(visible, np.float32), transforms)
