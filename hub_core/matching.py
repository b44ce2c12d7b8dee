"""Predictions paired with annotated instances: greedy one-to-one by box IoU."""
import numpy as np

from . import metrics
from .geometry import iou_one_to_many


def match(truth_boxes, pred_boxes, min_iou=0.3):
    """Greedy one-to-one (truth index, prediction index) pairs, highest IoU first, IoU >= min_iou (a number,
    or one per prediction)."""
    pred_boxes = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    if not len(truth_boxes) or not len(pred_boxes):
        return []
    floors = np.broadcast_to(np.asarray(min_iou, np.float64), len(pred_boxes))
    ious = np.array([iou_one_to_many(np.asarray(t, np.float64), pred_boxes) for t in truth_boxes])
    pairs, used_t, used_p = [], set(), set()
    for flat in np.argsort(-ious, axis=None):
        t, p = np.unravel_index(flat, ious.shape)
        if ious[t, p] >= floors[p] and t not in used_t and p not in used_p:
            pairs.append((int(t), int(p)))
            used_t.add(t)
            used_p.add(p)
    return pairs


def match_entries(data, entries, boxes="detector", min_iou=0.3):
    """Pair keypoint_detection() entries (one per image of data, in order) with the annotated instances:
    [{'image': image index, 'path', 'instance': annotation index in that image, 'keypoints': (K, 2)}].
    Any pipeline's predictions can be scored this way (e.g. another library's, shaped as entries)."""
    matches = []
    for i, (im, entry) in enumerate(zip(data["images"], entries)):
        kept = [j for j, inst in enumerate(im["instances"]) if not inst["ignore"]]
        found = entry.get("instances", [])
        if boxes == "gt" and len(found) == len(kept):
            pairs = list(zip(range(len(kept)), range(len(found))))  # one prediction per given box, in order
        else:
            key = "detector_box" if boxes == "gt" else "box"
            whole = [_is_whole_frame(f.get(key, f["box"]), entry.get("image_size")) for f in found]
            # a whole-frame box (whole_image_detector) says nothing about where the instance is: rank such a
            # prediction by its keypoints' box, and let it take any annotation of its image
            pred_boxes = [metrics.box_of_points(np.reshape(f["keypoints"], (-1, 2))) if w else f.get(key, f["box"])
                          for f, w in zip(found, whole)]
            pairs = match([im["instances"][j]["box"] for j in kept], pred_boxes,
                          [0.0 if w else min_iou for w in whole])
        for t, p in pairs:
            matches.append({"image": i, "path": im["path"], "instance": kept[t],
                            "keypoints": np.asarray(found[p]["keypoints"], np.float64).reshape(-1, 2)})
    return matches


def _is_whole_frame(box, image_size):
    return bool(image_size) and np.allclose(box[:4], [0, 0, image_size["width"], image_size["height"]], atol=1.0)
