"""Heatmap decoding (argmax refined by DARK or by a quarter-cell offset), as MMPose and PaddleDetection do it."""
import cv2
import numpy as np

DECODES = ("dark", "offset")


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
