"""One hub module over batches of uris, in a worker process: bytes read here, decoded by the hub,
one output row per image or video frame, errors kept as rows. No Ray needed: KeypointPredictor is the
callable class to drop into a Ray Data `map_batches` pipeline, and the `--engine ray` shard worker."""
import json
import os

import cv2
import numpy as np

from . import images as imio
from . import video as vid
from .batching import error_entry, prefetched
from .camera_motion import CameraMotion
from .infer import is_keypoint_module
from .keypoint import RESULT_SCHEMA_VERSION
from .manifest import has_scheme
from .module import Module
from .tracking import tracker_for

COLUMNS = ("row_id", "source", "module", "module_version", "schema_version", "width", "height", "num_instances",
           "error", "result", "frame_id", "timestamp")


def read_bytes(uri):
    """The file's bytes: local paths directly, other uris (s3://, gs://, hdfs://...) through pyarrow.fs."""
    if not has_scheme(uri) or str(uri).startswith("file://"):
        with open(str(uri)[7:] if str(uri).startswith("file://") else uri, "rb") as f:
            return f.read()
    from pyarrow import fs
    filesystem, path = fs.FileSystem.from_uri(uri)
    with filesystem.open_input_file(path) as f:
        return f.read()


def load_image(uri):
    """BGR image, or the ImageError naming uri (missing, unreadable, undecodable, too large)."""
    try:
        return imio.decode(read_bytes(uri), uri)
    except imio.ImageError as e:
        return e
    except FileNotFoundError:
        return imio.ImageError(f"{uri}: file not found")
    except IsADirectoryError:
        return imio.ImageError(f"{uri}: is a folder, not an image")
    except OSError as e:
        return imio.ImageError(f"{uri}: cannot read ({e.strerror or e})")


class KeypointPredictor:
    """A hub module held by one worker (model loaded once), run over batches of uris.

        ds = ray.data.read_parquet("s3://bucket/manifest.parquet")       # a 'uri' column (and 'row_id')
        ds = ds.map_batches(KeypointPredictor, fn_constructor_kwargs={"module": "human_pose_estimation"},
                            batch_size=64, concurrency=4, num_cpus=1)
        ds.write_parquet("s3://bucket/keypoints/")

    threads: ONNX Runtime / OpenCV threads of this worker (set it to the CPUs the worker reserves).
    Each output row has COLUMNS; 'result' is the hub's result entry as JSON.
    """

    def __init__(self, module, threads=None, use_gpu=False, batch_size=8, **module_kwargs):
        if threads:
            os.environ["HUB_NUM_THREADS"] = str(int(threads))
            cv2.setNumThreads(int(threads))
        self.module = Module(name=module, **module_kwargs) if isinstance(module, str) else module
        self.use_gpu, self.batch_size = use_gpu, max(1, int(batch_size))
        self.keypoint = is_keypoint_module(self.module)
        self.run_images = self.module.keypoint_detection if self.keypoint else self.module.predict
        self.module.net(use_gpu)  # load (and for GPU check) the networks now, not on the first batch

    def __call__(self, batch):
        uris = [str(u) for u in batch["uri"]]
        row_ids = batch["row_id"] if "row_id" in batch else np.arange(len(uris))
        units = [{"row_id": int(r), "uri": u, "frame_start": None, "frame_end": None} for r, u in zip(row_ids, uris)]
        return self.columns(self.records(units))

    def records(self, units):
        """(unit, entry) per output row, in order: images pooled into batches (decoded a batch ahead on a
        thread), each video unit's frames streamed."""
        images = [u for u in units if u["frame_start"] is None]
        decoded = prefetched(lambda unit: load_image(unit["uri"]), images, 2 * self.batch_size)
        pending = []
        for unit in units:
            if unit["frame_start"] is not None:
                yield from self._flush(pending)
                yield from self._video(unit)
                continue
            pending.append((unit, next(decoded)))
            if len(pending) >= self.batch_size:
                yield from self._flush(pending)
        yield from self._flush(pending)

    def entries(self, images, names):
        """Entries of decoded images, named (path and errors) by names."""
        good = [i for i, im in enumerate(images) if not isinstance(im, imio.ImageError)]
        out = [None] * len(images)
        if good:
            found = self.run_images(images=[images[i] for i in good], batch_size=len(good), use_gpu=self.use_gpu)
            for i, entry in zip(good, found):
                out[i] = entry
        for i, (image, name) in enumerate(zip(images, names)):
            if out[i] is None:
                out[i] = error_entry(name, str(image))
            out[i]["path"] = name
            if out[i].get("error", "").startswith("images["):  # a processing failure names the batch slot
                out[i]["error"] = name + out[i]["error"][out[i]["error"].index("]") + 1:]
        return out

    def _flush(self, pending):
        if pending:
            units = [u for u, _ in pending]
            yield from zip(units, self.entries([im for _, im in pending], [u["uri"] for u in units]))
            pending.clear()

    def _video(self, unit):
        """A video's frames [frame_start, frame_end): tracks start afresh at the segment's first frame."""
        uri, start, end = unit["uri"], unit["frame_start"], unit["frame_end"]
        try:
            cap = vid.open_capture(uri)
        except ValueError as e:
            yield unit, error_entry(uri, str(e))
            return
        tracker = tracker_for(self.module) if self.keypoint else None
        camera = CameraMotion()
        fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
        if start:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        frame_id = start
        try:
            while end is None or frame_id < end:
                frames = []
                while len(frames) < self.batch_size and (end is None or frame_id + len(frames) < end):
                    ok, frame = cap.read()
                    if not ok:
                        break
                    frames.append(frame)
                if not frames:
                    return
                for image, frame in zip(frames, self.entries(frames, [uri] * len(frames))):
                    frame.update(frame_id=frame_id, timestamp=round(frame_id / fps, 4))
                    if tracker is not None:
                        tracker.move(camera(image))
                        if "error" not in frame:
                            tracker.update(frame, frame["timestamp"])
                    yield unit, frame
                    frame_id += 1
        finally:
            cap.release()

    def row(self, unit, entry):
        """The JSONL row: the result entry plus row_id, source, module, module_version, schema_version."""
        return {"row_id": unit["row_id"], "source": unit["uri"], "module": self.module.name,
                "module_version": self.module.version, "schema_version": RESULT_SCHEMA_VERSION, **entry}

    def columns(self, records):
        """COLUMNS as lists, from (unit, entry) records: the Parquet files' and map_batches' output."""
        cols = {c: [] for c in COLUMNS}
        for unit, entry in records:
            size = entry.get("image_size") or {}
            values = (unit["row_id"], unit["uri"], self.module.name, self.module.version, RESULT_SCHEMA_VERSION,
                      size.get("width"), size.get("height"), len(entry.get("data") or []), entry.get("error"),
                      json.dumps(entry), entry.get("frame_id"), entry.get("timestamp"))
            for column, value in zip(COLUMNS, values):
                cols[column].append(value)
        return cols
