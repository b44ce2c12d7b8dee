"""Keypoint accuracy metrics (definitions in shared/data/METRICS.md), pure numpy on matched instances.

Shapes: pred, gt (N, K, 2) pixels; visible (N, K) bool (annotated keypoints). Only visible
keypoints count; a keypoint never visible in any instance is left out of per-keypoint means.
"""
import contextlib
import io

import numpy as np


def distances(pred, gt):
    """(N, K) Euclidean pixel errors."""
    return np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)


def box_of_points(points, visible=None):
    """Tight [x1, y1, x2, y2] box of the (visible) points."""
    points = np.asarray(points, np.float64)
    if visible is not None and np.any(visible):
        points = points[np.asarray(visible, bool)]
    return np.r_[points.min(0), points.max(0)]


# --- faces -------------------------------------------------------------------------------
def nme_per_instance(pred, gt, visible, norm_indices=(36, 45)):
    """Per face: mean point error over visible points / distance between gt[norm_indices] (300-W: outer
    eye corners). Faces with a zero normaliser give NaN."""
    dist = distances(pred, gt)
    gt = np.asarray(gt, np.float64)
    norm = np.linalg.norm(gt[:, norm_indices[0]] - gt[:, norm_indices[1]], axis=-1)
    mean = (dist * visible).sum(1) / np.maximum(visible.sum(1), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, mean / norm, np.nan)


def nme_per_keypoint(pred, gt, visible, norm_indices=(36, 45)):
    """(K,) mean normalised error of each point over the faces where it is visible (NaN if never)."""
    gt = np.asarray(gt, np.float64)
    norm = np.linalg.norm(gt[:, norm_indices[0]] - gt[:, norm_indices[1]], axis=-1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        d = distances(pred, gt) / norm
    return masked_mean(d, visible & (norm > 0))


def failure_rate(nmes, threshold=0.08):
    """Fraction of faces with NME above threshold."""
    return float((np.asarray(nmes) > threshold).mean())


def nme_auc(nmes, limit=0.08, steps=81):
    """Area under the cumulative NME curve up to `limit`, normalised to 0..1 (mean of the CED)."""
    nmes = np.asarray(nmes)
    return float(np.mean([(nmes <= t).mean() for t in np.linspace(0, limit, steps)]))


# --- hands / animals ---------------------------------------------------------------------
def masked_mean(values, mask, axis=0):
    """Mean over `axis` of the masked entries; NaN where none."""
    mask = np.asarray(mask, bool)
    count = mask.sum(axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, np.where(mask, values, 0).sum(axis) / count, np.nan)


def pck_per_keypoint(dist, visible, norm, threshold):
    """(K,) fraction of visible keypoints with dist / norm < threshold; norm (N,) per instance."""
    return masked_mean(dist / np.asarray(norm, np.float64)[:, None] < threshold, visible)


def pck(dist, visible, norm, threshold=0.2):
    """mmpose PCKAccuracy: per-keypoint accuracies averaged over keypoints with >= 1 visible sample."""
    return float(np.nanmean(pck_per_keypoint(dist, visible, norm, threshold)))


def bbox_norm(boxes):
    """Longer side of each [x1, y1, x2, y2] box (mmpose PCK 'bbox' normalisation)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.max(boxes[:, 2:] - boxes[:, :2], axis=1)


def auc(dist, visible, norm_factor=30.0, num_thresholds=20):
    """mmpose AUC: mean PCK over thresholds i/num * norm_factor px, i = 0..num-1."""
    ones = np.ones(len(dist))
    return float(np.mean([pck(dist, visible, ones * norm_factor, i / num_thresholds)
                          for i in range(num_thresholds)]))


def epe(dist, visible):
    """Mean pixel error over visible keypoints."""
    return float(np.asarray(dist)[np.asarray(visible, bool)].mean())


# --- OKS AP (pycocotools) ----------------------------------------------------------------
def oks_ap(coco_gt, results, sigmas=None):
    """COCO keypoint AP/AP50/AP75/AR of `results` (COCOeval.loadRes format) against a pycocotools COCO.
    sigmas: per-keypoint OKS sigmas (the module's keypoints.json); pycocotools' COCO-17 ones when None."""
    from pycocotools.cocoeval import COCOeval
    if not results:
        return {"AP": 0.0, "AP50": 0.0, "AP75": 0.0, "AR": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco_gt, coco_gt.loadRes(results), "keypoints")
        if sigmas is not None:
            ev.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {"AP": round(float(ev.stats[0]), 4), "AP50": round(float(ev.stats[1]), 4),
            "AP75": round(float(ev.stats[2]), 4), "AR": round(float(ev.stats[5]), 4)}
