"""The camera's motion between video frames (global motion compensation, as BoT-SORT's GMC): corners tracked by
sparse optical flow on a small grey copy of each frame, fitted robustly with a similarity transform."""
import cv2
import numpy as np

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


class CameraMotion:
    def __init__(self, width=240, corners=150):
        self.width, self.corners = width, corners
        self.previous, self.scale = None, 1.0

    def __call__(self, frame):
        """(2, 3) affine taking the previous frame's pixels to this frame's; the identity for the first frame or
        where too few corners agree (a cut, a blank frame)."""
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        self.scale = min(1.0, self.width / grey.shape[1])
        small = cv2.resize(grey, None, fx=self.scale, fy=self.scale, interpolation=cv2.INTER_AREA)
        previous, self.previous = self.previous, small
        if previous is None or previous.shape != small.shape:
            return IDENTITY.copy()
        points = cv2.goodFeaturesToTrack(previous, self.corners, qualityLevel=0.01, minDistance=8)
        if points is None or len(points) < 8:
            return IDENTITY.copy()
        moved, found, _ = cv2.calcOpticalFlowPyrLK(previous, small, points, None)
        found = found.ravel() == 1
        if found.sum() < 8:
            return IDENTITY.copy()
        affine, inliers = cv2.estimateAffinePartial2D(points[found], moved[found], method=cv2.RANSAC,
                                                      ransacReprojThreshold=1.0)
        if affine is None or inliers.sum() < 8:
            return IDENTITY.copy()
        affine[:, 2] /= self.scale  # the fit is in the small copy's pixels; rotation and zoom are scale-free
        return affine


def warp_points(affine, points):
    """points (..., 2) moved by a (2, 3) affine."""
    return points @ affine[:, :2].T + affine[:, 2]


def warp_box(affine, box):
    """box [x1, y1, x2, y2] with its centre moved by affine and its sides scaled by the affine's zoom (not the
    box around its turned corners, which would grow a little with every turn)."""
    box = np.asarray(box, np.float64)
    centre, half = (box[:2] + box[2:4]) / 2, (box[2:4] - box[:2]) / 2
    zoom = np.sqrt(abs(np.linalg.det(affine[:, :2])))
    centre = warp_points(affine, centre)
    return np.concatenate([centre - zoom * half, centre + zoom * half])
