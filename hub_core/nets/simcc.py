"""SimCC decoding (RTMPose and friends): one 1-D classification vector per keypoint and axis."""
import numpy as np


def decode_simcc(simcc_x, simcc_y, split_ratio=2.0):
    """simcc_x (N, K, Wx), simcc_y (N, K, Hy) -> keypoints (N, K, 2) in input-crop pixels and scores (N, K).

    Wx = input width x split_ratio bins (Hy likewise); a keypoint is the argmax bin of each axis divided by
    split_ratio; its score is the lower of the two maxima (rtmlib / MMPose get_simcc_maximum)."""
    simcc_x, simcc_y = np.asarray(simcc_x, np.float32), np.asarray(simcc_y, np.float32)
    x = simcc_x.argmax(-1)
    y = simcc_y.argmax(-1)
    scores = np.minimum(simcc_x.max(-1), simcc_y.max(-1))
    points = np.stack([x, y], -1).astype(np.float32) / np.float32(split_ratio)
    return points, scores
