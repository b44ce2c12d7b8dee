"""One drawer for every module, driven by the keypoint meta (skeleton, colours)."""
from pathlib import Path

import cv2
import numpy as np

PALETTE = [(0, 255, 0), (255, 128, 0), (51, 153, 255), (255, 51, 255), (0, 215, 255), (255, 255, 0)]


KPT_THR = 0.3  # MMPose's visualiser default: points the model is unsure of (unseen limbs, clutter) stay undrawn


def draw(image, entry, meta=None, radius=None, thickness=None, kpt_thr=KPT_THR, bbox_thr=0.0,
         draw_bbox=True, show_kpt_idx=False, black_background=False, skeleton_style="mmpose", world_view=False):
    """A copy of image (BGR) with the entry's instances drawn: boxes, skeleton, keypoints.
    Dot radius and line width follow each instance's own size unless radius / thickness are given;
    an instance with a 'track_id' gets its id beside its box and a box colour of its own.
    skeleton_style='openpose' draws COCO-17 bodies OpenPose-style (neck point, OpenPose colours).
    world_view: a small 3D view of each instance's world_keypoints (hands) along the top edge."""
    if skeleton_style == "openpose" and (meta or {}).get("num_keypoints") == 17:
        entry, meta = _openpose(entry), OPENPOSE_META
    canvas = np.zeros_like(image) if black_background else image.copy()
    meta = meta or {}
    skeleton = meta.get("skeleton", [])
    link_colours = meta.get("link_colors") or [PALETTE[0]] * len(skeleton)
    kpt_colours = meta.get("keypoint_colors")
    for inst in entry.get("instances", []):
        score = inst.get("box_score", 1.0)
        if score is not None and score < bbox_thr:
            continue
        pts = np.asarray(inst.get("keypoints", []), np.float32).reshape(-1, 2)
        r, t = instance_style(inst, pts, radius, thickness)
        track = inst.get("track_id")
        box_colour = (0, 0, 255) if track is None else track_colour(track)
        if draw_bbox and inst.get("box") is not None:
            x1, y1, x2, y2 = (int(round(v)) for v in inst["box"][:4])
            cv2.rectangle(canvas, (x1, y1), (x2, y2), box_colour, t)
        if track is not None:
            x, y = (int(round(v)) for v in (inst["box"][:2] if inst.get("box") is not None else pts.min(0)))
            font = max(0.4, 2.5 * t / 10 + 0.3)
            cv2.putText(canvas, f"id {track}", (x + t, max(y - 2 * t, 12)), cv2.FONT_HERSHEY_SIMPLEX, font,
                        box_colour, max(1, t // 2 + 1), cv2.LINE_AA)
        scores = inst.get("keypoint_scores")
        ok = np.ones(len(pts), bool) if scores is None else np.asarray(scores) >= kpt_thr
        for (a, b), colour in zip(skeleton, link_colours):
            if a < len(pts) and b < len(pts) and ok[a] and ok[b]:
                cv2.line(canvas, tuple(int(v) for v in np.round(pts[a])), tuple(int(v) for v in np.round(pts[b])),
                         tuple(colour), t, cv2.LINE_AA if r > 1 else cv2.LINE_8)  # anti-aliasing thickens thin lines
        for k, p in enumerate(pts):
            if not ok[k]:
                continue
            centre = tuple(int(v) for v in np.round(p))
            colour = tuple(kpt_colours[k]) if kpt_colours else PALETTE[1]
            cv2.circle(canvas, centre, r, colour, -1, cv2.LINE_AA if r > 1 else cv2.LINE_8)
            if show_kpt_idx:
                cv2.putText(canvas, str(k), (centre[0] + r, centre[1] - r), cv2.FONT_HERSHEY_SIMPLEX,
                            0.1 * r + 0.25, (255, 255, 255), 1, cv2.LINE_AA)
    if world_view:
        from .draw3d import paste_world_views
        paste_world_views(canvas, entry, meta)
    return canvas


def instance_style(inst, pts=None, radius=None, thickness=None):
    """(dot radius, line width) for one instance: the ones given, else from its own size (the square root
    of its box area, or of its keypoints' box): a face in a group photo gets 1-pixel dots, a close-up bigger."""
    if radius and thickness:
        return int(radius), int(thickness)
    box = inst.get("box")
    if box is None:
        pts = np.asarray(inst.get("keypoints", []), np.float32).reshape(-1, 2) if pts is None else pts
        box = np.r_[pts.min(0), pts.max(0)] if len(pts) else [0, 0, 0, 0]
    size = float(np.sqrt(max(box[2] - box[0], 0) * max(box[3] - box[1], 0)))
    r = int(radius or round(size / 50))  # 0: one pixel, for faces of a few dozen pixels
    return r, int(thickness or max(1, round(r / 2)))


def track_colour(track_id):
    """A distinct BGR colour per track id (golden-ratio steps around the hue circle)."""
    hue = int((track_id * 0.618033988749895 % 1.0) * 180)
    return tuple(int(c) for c in cv2.cvtColor(np.uint8([[[hue, 220, 255]]]), cv2.COLOR_HSV2BGR)[0, 0])


# COCO-17 + neck (index 17) drawn with OpenPose's limbs and colours (BGR).
_OPENPOSE_COLOURS = [(0, 0, 255), (0, 85, 255), (0, 170, 255), (0, 255, 255), (0, 255, 170), (0, 255, 85),
                     (0, 255, 0), (85, 255, 0), (170, 255, 0), (255, 255, 0), (255, 170, 0), (255, 85, 0),
                     (255, 0, 0), (255, 0, 85), (255, 0, 170), (255, 0, 255), (170, 0, 255), (85, 0, 255)]
OPENPOSE_META = {
    "skeleton": [[17, 6], [17, 5], [6, 8], [8, 10], [5, 7], [7, 9], [17, 12], [12, 14], [14, 16], [17, 11],
                 [11, 13], [13, 15], [17, 0], [0, 2], [2, 4], [0, 1], [1, 3]],
    "link_colors": _OPENPOSE_COLOURS[:17],
    "keypoint_colors": [_OPENPOSE_COLOURS[i] for i in (0, 14, 15, 16, 17, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10, 1)],
}


def _openpose(entry):
    """The entry with a neck point (mid-shoulders, the weaker shoulder's score) added per instance."""
    instances = []
    for inst in entry.get("instances", []):
        pts = np.asarray(inst.get("keypoints", []), np.float64).reshape(-1, 2)
        if len(pts) != 17:
            instances.append(inst)
            continue
        scores = inst.get("keypoint_scores")
        new = dict(inst, keypoints=np.vstack([pts, pts[5:7].mean(0)]).tolist())
        if scores is not None:
            new["keypoint_scores"] = list(scores) + [min(scores[5], scores[6])]
        instances.append(new)
    return dict(entry, instances=instances)


def unique_path(folder, stem, suffix, used):
    """folder/stem+suffix, adding _1, _2 ... where this call already used that name."""
    candidate, n = f"{stem}{suffix}", 0
    while candidate in used:
        n += 1
        candidate = f"{stem}_{n}{suffix}"
    used.add(candidate)
    return Path(folder) / candidate


def save(canvas, output_dir, name, used):
    """Write canvas as output_dir/name (.jpg), adding _1, _2 ... where the call reused a name."""
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    path = unique_path(output_dir, Path(name).stem, ".jpg", used)
    cv2.imwrite(str(path), canvas)
    return str(path)
