"""Video frames in and out, instance tracking across frames, One-Euro keypoint smoothing."""
from pathlib import Path

import cv2
import numpy as np

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}


def is_video(path):
    return Path(str(path)).suffix.lower() in VIDEO_EXTENSIONS


def open_capture(source):
    """cv2.VideoCapture of a video file, or of camera N for 'webcam' / 'webcam:N'."""
    if isinstance(source, str) and source.startswith("webcam"):
        index = int(source.split(":", 1)[1]) if ":" in source else 0
        cap = cv2.VideoCapture(index)
    else:
        cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise ValueError(f"{source}: cannot open video" + (" (no camera?)" if str(source).startswith("webcam") else ""))
    return cap


def video_info(source):
    """{'fps', 'frame_count', 'width', 'height'} of a video file (frame_count 0 when unknown)."""
    cap = open_capture(source)
    try:
        return {"fps": cap.get(cv2.CAP_PROP_FPS) or 30.0, "frame_count": max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))),
                "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))}
    finally:
        cap.release()


def read_frames(source):
    """(frame_id, timestamp_seconds, BGR frame) one at a time; the timestamp comes from the fps
    because container timestamps are unreliable across backends."""
    cap = open_capture(source)
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    try:
        frame_id = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            yield frame_id, round(frame_id / fps, 4), frame
            frame_id += 1
    finally:
        cap.release()


class VideoWriter:
    """An MP4 (mp4v) opened on the first frame, at the source fps."""

    def __init__(self, path, fps):
        self.path, self.fps, self._writer, self.frames = str(path), float(fps or 30.0), None, 0

    def write(self, frame):
        if self._writer is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            h, w = frame.shape[:2]
            self._writer = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        self._writer.write(frame)
        self.frames += 1

    def close(self):
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- tracking -----------------------------------------------------------------------

def iou_matrix(a, b):
    """IoU of every box of a (N, 4+) with every box of b (M, 4+)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:4], b[None, :, 2:4])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:4] - x[:, :2], 0, None), axis=1)
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


def keypoint_box(keypoints, scores=None, expand=0.2, kpt_thr=0.0, image_size=None):
    """[x1, y1, x2, y2] around the (confident) keypoints, grown by `expand` of its size (half each side)."""
    pts = np.asarray(keypoints, np.float64).reshape(-1, 2)
    if scores is not None:
        confident = np.asarray(scores) > kpt_thr
        if confident.sum() >= 2:
            pts = pts[confident]
    (x1, y1), (x2, y2) = pts.min(0), pts.max(0)
    dx, dy = (x2 - x1) * expand / 2, (y2 - y1) * expand / 2
    box = [x1 - dx, y1 - dy, x2 + dx, y2 + dy]
    if image_size is not None:
        w, h = image_size
        box = [max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3])]
    return box


class Tracker:
    """Stable track ids: greedy IoU matching of this frame's boxes to the last frame's, new ids
    for the unmatched. A track unseen for `max_age` frames is dropped."""

    def __init__(self, iou_thr=0.3, max_age=5):
        self.iou_thr, self.max_age = iou_thr, max_age
        self.tracks = {}  # id -> {'box', 'age'}
        self.next_id = 0

    def update(self, boxes):
        """Track ids for boxes (N, 4), in order."""
        ids = list(self.tracks)
        ious = iou_matrix(boxes, [self.tracks[i]["box"] for i in ids]) if ids and len(boxes) else np.zeros((len(boxes), 0))
        assigned = [None] * len(boxes)
        pairs = sorted(((ious[r, c], r, c) for r in range(ious.shape[0]) for c in range(ious.shape[1])
                        if ious[r, c] >= self.iou_thr), reverse=True)
        used_r, used_c = set(), set()
        for _, r, c in pairs:
            if r not in used_r and c not in used_c:
                assigned[r] = ids[c]
                used_r.add(r), used_c.add(c)
        for r, tid in enumerate(assigned):
            if tid is None:
                assigned[r], self.next_id = self.next_id, self.next_id + 1
        for tid in list(self.tracks):
            self.tracks[tid]["age"] += 1
        for box, tid in zip(boxes, assigned):
            self.tracks[tid] = {"box": list(box[:4]), "age": 0}
        self.tracks = {t: v for t, v in self.tracks.items() if v["age"] <= self.max_age}
        return assigned


# --- smoothing ----------------------------------------------------------------------

class OneEuroFilter:
    """Casiez et al. 2012 One-Euro filter over an array signal (e.g. (K, 2) keypoints):
    cutoff = min_cutoff + beta * |speed|, so slow motion is smoothed hard and fast motion lags little."""

    def __init__(self, min_cutoff=1.0, beta=0.007, d_cutoff=1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x = self.dx = self.t = None

    @staticmethod
    def _alpha(cutoff, dt):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x, t):
        x = np.asarray(x, np.float64)
        if self.x is None or self.x.shape != x.shape:
            self.x, self.dx, self.t = x, np.zeros_like(x), t
            return x
        dt = max(t - self.t, 1e-6)
        dx = (x - self.x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self.dx = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        a = self._alpha(cutoff, dt)
        self.x, self.t = a * x + (1 - a) * self.x, t
        return self.x


class VideoTracker:
    """Per-frame post-processing of a keypoint module's entries: track ids, optional smoothing,
    and the boxes to feed the next frame when the detector is skipped."""

    def __init__(self, smooth=False, min_cutoff=1.0, beta=0.007, iou_thr=0.3, expand=0.2):
        self.tracker = Tracker(iou_thr)
        self.smooth, self.min_cutoff, self.beta, self.expand = smooth, min_cutoff, beta, expand
        self.filters = {}
        self.last = []  # previous frame's instances

    def update(self, entry, timestamp):
        instances = entry.get("instances", [])
        ids = self.tracker.update([inst["box"] for inst in instances])
        for inst, tid in zip(instances, ids):
            inst["track_id"] = int(tid)
            if self.smooth:
                f = self.filters.setdefault(tid, OneEuroFilter(self.min_cutoff, self.beta))
                inst["keypoints"] = np.round(f(inst["keypoints"], timestamp), 3).tolist()
        if self.smooth:
            self.filters = {t: f for t, f in self.filters.items() if t in self.tracker.tracks}
            entry["data"] = [inst["keypoints"] for inst in instances]
        self.last = instances
        return entry

    def next_boxes(self, image_size):
        """[[x1, y1, x2, y2, score]] from the last frame's keypoints, for a frame without detection."""
        return [keypoint_box(inst["keypoints"], inst.get("keypoint_scores"), self.expand, image_size=image_size)
                + [inst.get("box_score", 1.0)] for inst in self.last if len(inst.get("keypoints", []))]
