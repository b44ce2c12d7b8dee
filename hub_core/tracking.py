"""Identities across video frames: instances matched to tracks by box overlap and keypoint similarity."""
import numpy as np

from .camera_motion import warp_box, warp_points
from .video import OneEuroFilter


def assign(cost):
    """Minimum-cost one-to-one matching (Hungarian / Kuhn-Munkres) of a (N, M) cost matrix; np.inf forbids a
    pair. Returns (rows, cols) index arrays of the matched pairs, rows ascending."""
    cost = np.asarray(cost, np.float64)
    if cost.size == 0:
        return np.zeros(0, int), np.zeros(0, int)
    allowed = np.isfinite(cost)
    if not allowed.any():
        return np.zeros(0, int), np.zeros(0, int)
    transposed = cost.shape[0] > cost.shape[1]
    c = cost.T if transposed else cost
    big = (np.abs(c[np.isfinite(c)]).max() + 1) * (c.shape[0] + 1)
    c = np.where(np.isfinite(c), c, big)
    n, m = c.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    p, way = np.zeros(m + 1, int), np.zeros(m + 1, int)   # p[j]: row (1-based) matched to column j
    for i in range(1, n + 1):
        p[0], j0 = i, 0
        minv, used = np.full(m + 1, np.inf), np.zeros(m + 1, bool)
        while p[j0]:
            used[j0] = True
            i0 = p[j0]
            cur = c[i0 - 1] - u[i0] - v[1:]
            free = ~used[1:]
            better = free & (cur < minv[1:])
            minv[1:][better], way[1:][better] = cur[better], j0
            j1 = 1 + int(np.argmin(np.where(free, minv[1:], np.inf)))
            delta = minv[j1]
            u[p[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
        while j0:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
    cols = np.flatnonzero(p[1:])
    rows = p[1:][cols] - 1
    if transposed:
        rows, cols = cols, rows
    keep = allowed[rows, cols]
    rows, cols = rows[keep], cols[keep]
    order = np.argsort(rows)
    return rows[order], cols[order]


def iou_matrix(a, b):
    """IoU of every box of a (N, 4+) with every box of b (M, 4+)."""
    a, b = (np.asarray(x, np.float64).reshape(len(x), -1)[:, :4] if len(x) else np.zeros((0, 4)) for x in (a, b))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def _intersection(a, b):
    return np.concatenate([np.maximum(a[..., :2], b[..., :2]), np.minimum(a[..., 2:4], b[..., 2:4])], -1)


def area(boxes):
    boxes = np.asarray(boxes, np.float64)
    return np.prod(np.clip(boxes[..., 2:4] - boxes[..., :2], 0, None), axis=-1)


def keypoint_similarity(a, b, scale, sigmas=None, tolerance=1.0):
    """Similarity in [0, 1] of keypoint sets a (N, K, 2) and b (M, K, 2), scale (N,) their size in pixels:
    OKS with per-keypoint sigmas where the meta has them (bodies), else a Gaussian of the mean keypoint
    distance over the size (faces, hands). tolerance > 1 widens it (tracks unseen for a while)."""
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)                       # (N, M, K)
    s2 = (np.asarray(scale, np.float64)[:, None, None] * tolerance) ** 2
    if sigmas is not None:
        return np.exp(-d2 / (2 * s2 * (2 * np.asarray(sigmas)) ** 2 + 1e-9)).mean(-1)
    return np.exp(-(np.sqrt(d2).mean(-1, keepdims=True) ** 2) / (2 * s2 * NORMALISED_SIGMA ** 2 + 1e-9))[..., 0]


MAX_STEP = 0.25          # the most a track's velocity follows in one frame, in units of its size
MAX_ZOOM = 1.05          # the most a box is scaled from one frame to the next between detections
NORMALISED_SIGMA = 0.15  # mean keypoint distance, in units of the instance's size, at which similarity is 0.61


def keypoint_box(keypoints, scores=None, min_score=0.3):
    """[x1, y1, x2, y2] bounding the keypoints (K, 2), only the confident ones where there are 3 or more:
    a model's guesses for unseen points would make the box wander."""
    if scores is not None and (scores >= min_score).sum() >= 3:
        keypoints = keypoints[scores >= min_score]
    return np.concatenate([keypoints.min(0), keypoints.max(0)])


def quality(instance):
    """How sure the module is of an instance: its own score where it has one (bodies: keypoints x box),
    a hand's presence, else the detector's box score."""
    for key in ("score", "presence", "box_score"):
        if instance.get(key) is not None:
            return float(instance[key])
    return 1.0


def follow(box, old, new, old_scores=None, new_scores=None, min_score=0.3):
    """box moved and scaled as the keypoints moved from old to new (K, 2): the points confident in both frames
    (where there are 3 or more) give the shift of their median and the change of their spread about it."""
    both = np.ones(len(old), bool)
    if old_scores is not None and new_scores is not None:
        confident = (old_scores >= min_score) & (new_scores >= min_score)
        both = confident if confident.sum() >= 3 else both
    a, b = old[both], new[both]
    ca, cb = np.median(a, 0), np.median(b, 0)  # medians: a few points jumping to clutter barely move the box
    spread_a, spread_b = np.median(np.linalg.norm(a - ca, axis=1)), np.median(np.linalg.norm(b - cb, axis=1))
    scale = np.clip(spread_b / max(spread_a, 1e-6), 1 / MAX_ZOOM, MAX_ZOOM)
    return np.tile(cb, 2) + scale * (box - np.tile(ca, 2))


def cut_off(box, image_size, margin=1.0):
    """Whether a box touches the frame's edge: the detector saw only the part of its subject in view."""
    return bool((box[:2] <= margin).any() or (box[2:4] >= np.asarray(image_size, np.float64) - margin).any())


class Track:
    def __init__(self, track_id, keypoints, scores, box, box_score, confirmed):
        self.id, self.keypoints, self.scores, self.box, self.box_score = track_id, keypoints, scores, box, box_score
        self.velocity = np.zeros(2)      # median keypoint motion, pixels per frame
        self.confident, self.lost, self.confirmed, self.filter = 1, 0, confirmed, None  # confident: detections >= birth_score

    def size(self):
        return np.sqrt(max(area(self.box), 1.0))

    def predicted(self):
        """Keypoints and box where this track is expected in the next frame (constant velocity, held
        after a few frames unseen)."""
        shift = self.velocity * min(self.lost + 1, 3)
        return self.keypoints + shift, self.box + np.tile(shift, 2)

    def update(self, keypoints, scores, box, box_score, detected, image_size=None):
        """Take this frame's instance. Without a detection, or with one cut off by the frame's edge and smaller
        than the track's box (a subject leaving the view must not shrink its track to the sliver in view), the
        box follows the keypoints' own motion."""
        if not detected or (image_size and cut_off(box, image_size) and area(box) < area(self.box)):
            box = follow(self.box, self.keypoints, keypoints, self.scores, scores)
        step = np.median(keypoints - self.keypoints, axis=0)
        step *= min(1.0, MAX_STEP * self.size() / max(np.linalg.norm(step), 1e-9))  # one odd frame must not fling it
        self.velocity = 0.5 * self.velocity + 0.5 * step if not self.lost else np.zeros(2)
        if self.lost:
            self.filter = None  # a revived track starts its smoothing afresh
        self.keypoints, self.scores, self.box, self.lost = keypoints, scores, box, 0
        if detected:
            self.box_score = box_score


def tracker_for(module, **kwargs):
    """A Tracker for a keypoint module's instances: its keypoint meta (OKS sigmas) and the settings its module.json
    gives under "tracking" (a face detector's scores call for a higher birth_score than a body's instance scores)."""
    return Tracker(module.meta, **{**(getattr(module, "tracking", None) or {}), **kwargs})


class Tracker:
    """Identities for a keypoint module's per-frame entries (hub.infer on videos / webcams).

    Each frame: duplicate instances are suppressed (keypoints nearly the same as a better instance's, or a box
    spanning two better instances); the rest are assigned (Hungarian) to the live tracks on box IoU + keypoint
    similarity against each track's predicted position, then left-overs to lost tracks with a wider tolerance
    (revival). A track is born only from an instance scoring at least birth_score and confirmed once `confirm` of
    its detections score that (at once in a video's first frame; unconfirmed, it is dropped when unseen for a
    frame): weaker instances only carry tracks on, as ByteTrack's low-score detections do. Only confirmed tracks
    are emitted; a lost track is kept `max_lost` frames. Between detector frames each track's box follows its own
    keypoints (their shift and spread). smooth: One-Euro per track."""

    match_threshold = 0.3     # of 0.5 * IoU + 0.5 * keypoint similarity
    revive_threshold = 0.2
    follow_threshold = 0.5    # keypoint similarity to its track's prediction of an instance re-estimated in its box
    duplicate_similarity = 0.6
    duplicate_iou = 0.5       # an unmatched instance overlapping a matched one (or its track) this much is no new subject
    span_cover = 0.7          # a box covering this much of two better instances' boxes spans them
    min_inside_box = 0.7      # share of a re-estimated instance's keypoint box inside the box it was estimated in

    def __init__(self, meta=None, smooth=False, min_cutoff=1.0, beta=0.007, confirm=2, max_lost=100,
                 birth_score=0.3, keep_score=0.15, min_inside=0.4):
        sigmas = (meta or {}).get("sigmas")
        self.sigmas = np.asarray(sigmas, np.float64) if sigmas else None
        self.smooth, self.make_filter = smooth, lambda: OneEuroFilter(min_cutoff, beta)
        self.confirm, self.max_lost = confirm, max_lost
        self.birth_score, self.keep_score, self.min_inside = birth_score, keep_score, min_inside
        self.tracks, self.next_id, self.frames, self.boxed = [], 0, 0, []

    def move(self, affine):
        """Carry every track, live or lost, with the camera's motion into the next frame (camera_motion), so that
        velocities are the subjects' own motion and a subject that left the view is looked for where it went."""
        for t in self.tracks:
            t.keypoints, t.box = warp_points(affine, t.keypoints), warp_box(affine, t.box)

    def following(self):
        """Whether the next frame can go without the detector: some track is live, none is waiting for the
        detector to confirm it, and no confirmed one was lost in the last frame (its subject is looked for at once)."""
        return any(t.lost == 0 for t in self.tracks) and all(t.confirmed for t in self.tracks if t.lost == 0) \
            and not any(t.confirmed and t.lost == 1 for t in self.tracks)

    def boxes(self, image_size):
        """[[x1, y1, x2, y2, score]] for the next frame without detection, from each live track's keypoints
        moved by its velocity; a track whose box has mostly left the frame gets none (it will be lost)."""
        w, h = image_size
        out, self.boxed = [], []
        for t in self.tracks:
            if t.lost:
                continue
            _, box = t.predicted()
            clipped = np.clip(box, 0, [w, h, w, h])
            if area(clipped) >= self.min_inside * max(area(box), 1e-9):
                out.append(clipped.tolist() + [t.box_score])
                self.boxed.append(t)
        return out

    def update(self, entry, timestamp, detected=True):
        """Keep only the instances of confirmed tracks, each with its 'track_id' (smoothed keypoints if
        smooth); entry['data'] follows. detected: whether this frame's boxes came from the detector."""
        instances = entry.get("instances", [])
        first_frame, self.frames = self.frames == 0, self.frames + 1
        kpts, boxes, scores, box_scores, kpt_scores, candidates = self._instances(entry, detected)
        owner = self._match(kpts, boxes, candidates, detected)
        size = (entry["image_size"]["width"], entry["image_size"]["height"]) if "image_size" in entry else None
        for t in self.tracks:
            if t not in owner.values():
                t.lost += 1
        self.tracks = [t for t in self.tracks if (t.confirmed or not t.lost) and t.lost <= self.max_lost]
        taken = np.concatenate([boxes[sorted(owner)], np.array([t.box for t in owner.values()]).reshape(-1, 4)])
        for i in candidates:
            if i not in owner and detected and scores[i] >= self.birth_score \
                    and not (iou_matrix(boxes[i:i + 1], taken) >= self.duplicate_iou).any():
                owner[i] = Track(self.next_id, kpts[i], kpt_scores[i], boxes[i], box_scores[i],
                                 confirmed=first_frame)
                self.tracks.append(owner[i])
                self.next_id += 1
            elif i in owner:
                owner[i].update(kpts[i], kpt_scores[i], boxes[i], box_scores[i], detected, size)
                owner[i].confident += detected and scores[i] >= self.birth_score
                owner[i].confirmed |= owner[i].confident >= self.confirm
        emitted = []
        for i in sorted(owner):
            t, inst = owner[i], instances[i]
            if not t.confirmed:
                continue
            inst["track_id"] = int(t.id)
            if not detected:
                h, w = entry["image_size"]["height"], entry["image_size"]["width"]
                inst["box"] = np.round(np.clip(t.box, 0, [w, h, w, h]), 3).tolist()
            if self.smooth:
                t.filter = t.filter or self.make_filter()
                inst["keypoints"] = np.round(t.filter(kpts[i], timestamp), 3).tolist()
            emitted.append(inst)
        entry["instances"] = emitted
        entry["data"] = [inst["keypoints"] for inst in emitted]
        return entry

    def slipped(self, entry):
        """Whether a track given a box by boxes() does not find its subject again in entry, the instances estimated
        in those boxes: then the detector is better run on this same frame than on the next."""
        kpts, boxes, _, _, _, candidates = self._instances(entry, detected=False)
        found = self._match(kpts, boxes, candidates, detected=False).values()
        return not all(any(t is f for f in found) for t in self.boxed)

    def _instances(self, entry, detected):
        """An entry's instances as arrays (keypoints, boxes, scores, box scores, keypoint scores) and the indices
        of those worth matching: no duplicates, scored at least keep_score, and when estimated in a track's own
        box (not detected) still inside it, points the model places outside the frame not counting."""
        instances = entry.get("instances", [])
        n = len(instances)
        kpts = np.array([inst["keypoints"] for inst in instances], np.float64).reshape(n, -1, 2) if n else np.zeros((0, 0, 2))
        boxes = np.array([inst["box"][:4] for inst in instances], np.float64).reshape(n, 4)
        scores = np.array([quality(inst) for inst in instances])
        box_scores = [inst.get("box_score", 1.0) for inst in instances]
        kpt_scores = [None if inst.get("keypoint_scores") is None else np.asarray(inst["keypoint_scores"], np.float64)
                      for inst in instances]
        candidates = [i for i in self._suppress(kpts, boxes, scores) if scores[i] >= self.keep_score]
        if not detected:
            frame = np.array([0, 0, entry["image_size"]["width"], entry["image_size"]["height"]], np.float64)
            in_frame = [_intersection(keypoint_box(kpts[i], kpt_scores[i]), frame) for i in range(n)]
            inside = [area(_intersection(in_frame[i], boxes[i])) / max(area(in_frame[i]), 1.0) for i in range(n)]
            candidates = [i for i in candidates if inside[i] >= self.min_inside_box]
        return kpts, boxes, scores, box_scores, kpt_scores, candidates

    def _suppress(self, kpts, boxes, scores):
        """Indices of the instances that are not duplicates, best first."""
        order = np.argsort(-scores, kind="stable")
        if len(order) < 2:
            return order.tolist()
        scale = np.sqrt(np.maximum(area(boxes), 1.0))
        sim = keypoint_similarity(kpts, kpts, scale, self.sigmas)
        sim = np.maximum(sim, sim.T)
        inter = area(_intersection(boxes[:, None], boxes[None, :]))
        cover = inter / np.maximum(area(boxes)[None, :], 1e-9)   # cover[i, j]: share of box j inside box i
        keep = []
        for i in order:
            if any(sim[i, j] > self.duplicate_similarity for j in keep):
                continue
            if sum(cover[i, j] >= self.span_cover for j in keep) >= 2:
                continue
            keep.append(int(i))
        return keep

    def _match(self, kpts, boxes, candidates, detected):
        """{instance index: Track}: live tracks first, then the lost ones and live ones left unmatched
        with a wider tolerance. Without detection an instance's box is the one its track gave, so keypoints alone
        must show it is still on the same subject."""
        owner, left = {}, list(candidates)
        for live, threshold in ((True, self.match_threshold), (False, self.revive_threshold)):
            taken = set(map(id, owner.values()))
            group = [t for t in self.tracks if (t.lost == 0) == live or (not live and id(t) not in taken)]
            if not group or not left:
                continue
            predicted = [t.predicted() for t in group]
            pk = np.stack([k for k, _ in predicted])
            pb = np.stack([b for _, b in predicted])
            tolerance = np.array([1.0 if live else 1.5 + 0.5 * min(t.lost, 3) for t in group])
            scale = np.sqrt(np.maximum(area(pb), 1.0)) * tolerance
            sim = keypoint_similarity(pk, kpts[left], scale, self.sigmas)
            if detected:
                sim = 0.5 * iou_matrix(pb, boxes[left]) + 0.5 * sim
            else:
                threshold = self.follow_threshold if live else 1.0  # a track is never revived from its own box
            rows, cols = assign(np.where(sim >= threshold, -sim, np.inf))
            for r, c in zip(rows, cols):
                owner[left[c]] = group[r]
            left = [i for i in left if i not in owner]
        return owner
