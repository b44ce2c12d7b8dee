"""Test-time refinement of top-down keypoints: flip averaging and a second pass on a crop rebuilt
from the first pass's points. Pure numpy on affines and points; the network is a callable."""
import numpy as np

from .geometry import square_box_transform


def flip_index(flip_pairs, num_keypoints):
    """Permutation that swaps each left/right pair: points of a mirrored crop, read through it,
    are in the unmirrored order."""
    index = np.arange(num_keypoints)
    for a, b in flip_pairs:
        index[a], index[b] = b, a
    return index


def mirror_transforms(transforms, axis):
    """Image -> crop affines (N, 2, 3) followed by a horizontal mirror of the crop, x -> axis - x.

    For crops[:, :, ::-1] the mirror is axis = width - 1 in pixel-centre coordinates (OpenCV's); a
    regressor whose outputs are continuous crop coordinates (pixel j spans [j, j + 1]) reads its
    mirrored crop with axis = width."""
    transforms = np.asarray(transforms, np.float32).reshape(-1, 2, 3)
    mirrored = transforms.copy()
    mirrored[:, 0] = -transforms[:, 0]
    mirrored[:, 0, 2] += axis
    return mirrored


def flip_average(points, mirrored_points, index):
    """Mean of (N, K, 2) image points and those read from the mirrored crops, whose keypoints
    are permuted by `index` (left and right swapped)."""
    return (points + mirrored_points[:, index]) / 2


def points_boxes(points):
    """(N, K, 2) points -> (N, 4) bounding boxes x1, y1, x2, y2."""
    points = np.asarray(points, np.float32)
    return np.concatenate([points.min(1), points.max(1)], 1)


def landmark_transforms(points, size, scale, shift):
    """Square crops rebuilt from first-pass points: side = max(w, h) of their bounding box x scale,
    centre = its centre + shift x side. (N, 2, 3) image -> crop affines for a size x size input."""
    return np.stack([square_box_transform(b, size, scale, shift) for b in points_boxes(points)]) \
        if len(points) else np.zeros((0, 2, 3), np.float32)


def predict_with_flip(predict, crops, transforms, index, continuous=True):
    """predict(crops (N, h, w, 3), transforms (N, 2, 3)) -> (N, K, 2) image points, run once on the crops and
    their mirror images together (one batch), then flip-averaged. continuous: predict reads crop points as
    continuous coordinates (see mirror_transforms)."""
    n = len(crops)
    if n == 0:
        return predict(crops, transforms)
    transforms = np.asarray(transforms, np.float32).reshape(-1, 2, 3)
    both = predict(np.concatenate([crops, crops[:, :, ::-1]]),
                   np.concatenate([transforms, mirror_transforms(transforms, crops.shape[2] - (not continuous))]))
    return flip_average(both[:n], both[n:], index)
