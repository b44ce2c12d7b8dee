"""Non-maximum suppression of duplicate poses by object keypoint similarity (OKS), as MMPose's COCO
evaluation does by default (oks_nms, threshold 0.9): two detector boxes on one person give two nearly
identical poses; the lower-scored one is dropped."""
import numpy as np


def oks_one_to_many(pose, poses, area, areas, sigmas):
    """OKS of one (K, 2) pose against (N, K, 2) poses, object area the mean of the two areas (COCO's formula,
    every keypoint counted)."""
    variances = (2 * np.asarray(sigmas, np.float64)) ** 2
    d2 = ((np.asarray(poses, np.float64) - np.asarray(pose, np.float64)) ** 2).sum(-1)
    scale = (area + np.asarray(areas, np.float64))[:, None] / 2 + np.spacing(1)
    return np.exp(-d2 / variances / scale / 2).mean(-1)


def oks_nms(keypoints, scores, areas, sigmas, threshold=0.9):
    """Indices of the poses kept (highest score first): a pose whose OKS with a kept, higher-scored pose
    exceeds threshold is dropped. keypoints (N, K, 2), scores (N,), areas (N,) of each pose's box."""
    keypoints = np.asarray(keypoints, np.float64)
    scores = np.asarray(scores, np.float64)
    areas = np.asarray(areas, np.float64)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        order = rest[oks_one_to_many(keypoints[i], keypoints[rest], areas[i], areas[rest], sigmas) <= threshold]
    return np.asarray(keep, np.int64)
