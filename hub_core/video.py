"""Video frames in and out, One-Euro keypoint smoothing (tracking: tracking.py)."""
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
