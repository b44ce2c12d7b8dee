"""hub.infer(): any input (image, folder, glob, video, webcam, array, URL) through a module,
results yielded one at a time as they are ready.

    for name, entry in hub.infer("face", "clip.mp4", det_every=5, smooth=True):
        print(entry["frame_id"], [i["track_id"] for i in entry["instances"]])
"""
import glob
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import images as imio
from . import video as vid
from .camera_motion import CameraMotion
from .tracking import tracker_for
from .aliases import resolve
from .batching import Item
from .module import Module


@dataclass
class Source:
    kind: str                 # 'image' | 'array' | 'url' | 'video' | 'webcam'
    name: str                 # how results name it
    item: object = None       # path, array or URL
    path: str = None          # what entries report as 'path'
    info: dict = field(default_factory=dict)  # video: fps, frame_count, width, height


def _warn(message):
    warnings.warn(message, stacklevel=3)  # the CLI shows warnings as one "hub: ..." line


def _file_source(path):
    p = str(path)
    if vid.is_video(p):
        return Source("video", p, p, p, vid.video_info(p))
    return Source("image", p, p, p)


def sources(inputs):
    """Expand inputs into a list of Sources (cheap: lists files, reads no pixels).
    Raises ValueError for a missing path, an empty folder or a glob that matches nothing."""
    if isinstance(inputs, np.ndarray):
        return [Source("array", "images[0]", inputs)]
    if isinstance(inputs, (list, tuple)):
        out = []
        for i, x in enumerate(inputs):
            out += [Source("array", f"images[{i}]", x)] if isinstance(x, np.ndarray) else sources(x)
        return out
    if not isinstance(inputs, (str, Path)):
        raise TypeError(f"unsupported input {type(inputs).__name__}: give a path, folder, glob, video, "
                        "'webcam[:N]', URL or numpy array")
    text = str(inputs)
    if text == "webcam" or text.startswith("webcam:"):
        return [Source("webcam", text, text, text, {"fps": 30.0, "frame_count": 0})]
    if text.startswith(("http://", "https://")):
        return [Source("url", text, text, text)]
    p = Path(text)
    if p.is_dir():
        files, others = imio.list_images(p)
        videos = [o for o in others if vid.is_video(o)]
        for o in others:
            if o not in videos:
                _warn(f"skipping {o}: not an image file")
        if not files and not videos:
            raise ValueError(f"{text}: folder has no image files")
        return [_file_source(f) for f in sorted(files + videos)]
    if p.exists():
        return [_file_source(p)]
    if glob.has_magic(text):
        matches = sorted(glob.glob(text))
        if not matches:
            raise ValueError(f"{text}: no file matches this pattern")
        out = []
        for m in matches:
            if Path(m).is_file() and (Path(m).suffix.lower() in imio.IMAGE_EXTENSIONS or vid.is_video(m)):
                out.append(_file_source(m))
            elif Path(m).is_file():
                _warn(f"skipping {m}: not an image file")
        return out
    raise ValueError(f"{text}: no such file or folder")


def _load(source):
    try:
        if source.kind == "url":
            with urllib.request.urlopen(source.item, timeout=30) as response:
                return imio.decode(response.read(), source.name)
        return imio.load(source.item, source.name)
    except imio.ImageError as e:
        return e
    except OSError as e:
        return imio.ImageError(f"{source.name}: cannot fetch ({e})")


def is_keypoint_module(module):
    return callable(getattr(module, "keypoint_detection", None)) and hasattr(module, "meta")


class _Runner:
    def __init__(self, module, kwargs):
        self.module, self.kwargs = module, kwargs
        self.keypoint = is_keypoint_module(module)

    def __call__(self, items, metas, boxes=None):
        """Entries for a batch of Items (a failed load is an Item holding its ImageError), each meta's fields added."""
        if self.keypoint:
            entries = self.module.keypoint_detection(images=items, batch_size=len(items), boxes=boxes, **self.kwargs)
        else:
            entries = self.module.predict(images=items, batch_size=len(items), **self.kwargs)
        for entry, meta in zip(entries, metas):
            entry.update(meta)
        return entries


def infer(module, inputs, batch_size=1, det_every=1, smooth=False, smooth_min_cutoff=1.0, smooth_beta=0.007,
          with_images=False, **kwargs):
    """Yield (input_name, entry) per image / video frame, in input order, lazily.

    Images of all inputs are pooled into batches of batch_size. Video / webcam frames stream
    (read, process, yield), their entries get 'frame_id', 'timestamp' (s) and per instance a
    'track_id'. det_every=N runs the detector on every N-th frame only; in between, boxes come
    from the previous frame's keypoints. smooth=True applies a One-Euro filter per track.
    with_images=True yields (input_name, entry, image) for drawing.
    kwargs go to the module's keypoint_detection() / predict().
    """
    if isinstance(module, str):
        module = Module(name=resolve(module))
    run = _Runner(module, kwargs)
    batch_size = max(1, int(batch_size))
    pending = []  # Items

    def flush():
        if not pending:
            return
        for item, entry in zip(pending, run(pending, [{}] * len(pending))):
            yield (item.name, entry, item.source) if with_images else (item.name, entry)
        pending.clear()

    for src in sources(inputs):
        if src.kind in ("video", "webcam"):
            yield from flush()
            yield from _video(run, src, batch_size, det_every, smooth, smooth_min_cutoff, smooth_beta, with_images)
            continue
        pending.append(Item(src.name, _load(src), src.path))
        if len(pending) >= batch_size:
            yield from flush()
    yield from flush()


def _video(run, src, batch_size, det_every, smooth, min_cutoff, beta, with_images):
    tracker = tracker_for(run.module, smooth=smooth, min_cutoff=min_cutoff, beta=beta) if run.keypoint else None
    camera = CameraMotion()
    det_every = max(1, int(det_every))
    # Skipping the detector makes each frame depend on the last one, so those frames go one by one.
    step = batch_size if det_every == 1 else 1
    chunk = []

    def process():
        items = [Item(f"{src.name}#{fid}", frame, src.path) for fid, _, frame in chunk]
        metas = [{"frame_id": fid, "timestamp": ts} for fid, ts, _ in chunk]
        moves = [camera(frame) for _, _, frame in chunk] if tracker is not None else []
        boxes = None
        if det_every > 1 and tracker is not None:
            tracker.move(moves.pop())
            if chunk[0][0] % det_every and tracker.following():
                h, w = items[0].source.shape[:2]
                boxes = [tracker.boxes((w, h))]
        entries = run(items, metas, boxes)
        if boxes is not None and "error" not in entries[0] and tracker.slipped(entries[0]):
            entries, boxes = run(items, metas), None  # a subject slipped out of its box: the detector looks again
        for item, meta, entry in zip(items, metas, entries):
            if moves:
                tracker.move(moves.pop(0))
            if tracker is not None and "error" not in entry:
                tracker.update(entry, meta["timestamp"], detected=boxes is None)
            yield (item.name, entry, item.source) if with_images else (item.name, entry)
        chunk.clear()

    for fid, ts, frame in vid.read_frames(src.item):
        chunk.append((fid, ts, frame))
        if len(chunk) >= step:
            yield from process()
    if chunk:
        yield from process()
