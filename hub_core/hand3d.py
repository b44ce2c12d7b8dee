"""Hands in 3D from MediaPipe's hand landmark network: world landmarks in metres and a relative depth
per image keypoint, both brought from the rotated hand crop into the image's frame."""
import numpy as np

from .nets.hand_landmark import SIZE


def world_in_image_frame(world, rois):
    """(N, 21, 3) world landmarks of the network (metres, origin at the hand's centre, axes of the rotated
    crop) turned by each ROI's rotation so x, y follow the image's axes, as MediaPipe's
    WorldLandmarkProjectionCalculator does; z unchanged."""
    world = np.asarray(world, np.float32).reshape(-1, 21, 3)
    rotation = np.asarray(rois, np.float32).reshape(-1, 4)[:, 3]
    c, s = np.cos(rotation)[:, None], np.sin(rotation)[:, None]
    x, y = world[..., 0], world[..., 1]
    return np.stack([c * x - s * y, s * x + c * y, world[..., 2]], -1)


def depths_in_image_pixels(z, rois):
    """(N, 21) crop-pixel depths of the network (relative to the wrist, smaller is nearer the camera) scaled
    like the x, y of the same keypoints: image pixels."""
    side = np.asarray(rois, np.float32).reshape(-1, 4)[:, 2]
    return np.asarray(z, np.float32).reshape(-1, 21) * (side / SIZE)[:, None]
