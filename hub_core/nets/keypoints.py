"""What every keypoint network returns for a batch of crops."""
from typing import NamedTuple

import numpy as np

from ..geometry import apply_affine, invert_affine


class Keypoints(NamedTuple):
    points: np.ndarray          # (N, K, 2) image pixels
    scores: np.ndarray = None   # (N, K), or None for networks without keypoint scores
    extras: dict = {}           # network-specific (N, ...) arrays, e.g. the hand's presence and handedness


def back_to_image(points, transforms):
    """(N, K, 2) crop pixels -> image pixels through the inverse of each crop's (2, 3) affine."""
    return np.stack([apply_affine(p, invert_affine(m)) for p, m in zip(points, transforms)])
