"""A small 3D view of world keypoints (hands' world landmarks): an orthographic view from a fixed angle,
drawn as an inset onto a visualisation."""
import cv2
import numpy as np


def view_rotation(azimuth_deg=35.0, elevation_deg=20.0):
    """3x3 rotation: the camera turned about the vertical (image y) axis, then tilted about x."""
    a, e = np.radians(azimuth_deg), np.radians(elevation_deg)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    tilt = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    return tilt @ turn


def world_view(world, skeleton, size=160, colours=None, extent=0.12):
    """(size, size, 3) BGR image of (K, 3) world points in metres (x right, y down, z away), bones from
    skeleton; extent: half the side of the viewed cube in metres."""
    canvas = np.full((size, size, 3), 32, np.uint8)
    pts = np.asarray(world, np.float64).reshape(-1, 3) @ view_rotation().T
    xy = pts[:, :2] * (size / 2 / extent) + size / 2
    depth_order = np.argsort(-pts[:, 2])  # far points first, so near ones are drawn on top
    px = [tuple(int(v) for v in np.round(p)) for p in xy]
    for a, b in skeleton:
        if a < len(px) and b < len(px):
            cv2.line(canvas, px[a], px[b], (200, 200, 200), 1, cv2.LINE_AA)
    for k in depth_order:
        colour = tuple(int(c) for c in colours[k]) if colours else (0, 200, 255)
        cv2.circle(canvas, px[k], 2, colour, -1, cv2.LINE_AA)
    cv2.rectangle(canvas, (0, 0), (size - 1, size - 1), (255, 255, 255), 1)
    return canvas


def paste_world_views(canvas, entry, meta, size=160):
    """canvas with a world_view inset per instance that has world_keypoints, left to right along the top."""
    x = 0
    for inst in entry.get("instances", []):
        world = inst.get("world_keypoints")
        if world is None or x + size > canvas.shape[1] or size > canvas.shape[0]:
            continue
        canvas[:size, x:x + size] = world_view(world, meta.get("skeleton", []), size, meta.get("keypoint_colors"))
        x += size
    return canvas
