"""Where `hub run` puts its results: small writers built once from the arguments. The run loop hands
each (entry, image) to every sink in order, then closes them. Video frames (entries with a
'frame_id') stream into one file per video."""
import json
from pathlib import Path

from . import draw, video
from .coco import to_coco_results


def _video_stem(path):
    return "webcam" if str(path).startswith("webcam") else Path(str(path)).stem


def _is_frame(entry):
    return "frame_id" in entry


class StdoutJson:
    """The results as JSON on stdout: a list at the end, or one line per entry (jsonl). Video
    frames always stream as lines."""

    def __init__(self, lines=False, compact=False):
        self.lines, self.compact, self.entries = lines, compact, []
        self.saw_frame = False

    def write(self, entry, image):
        if self.lines or _is_frame(entry):
            print(json.dumps(entry), flush=True)
        else:
            self.entries.append(entry)
        self.saw_frame |= _is_frame(entry)

    def close(self):
        if not self.lines and (self.entries or not self.saw_frame):
            print(json.dumps(self.entries, indent=None if self.compact else 1))


class SummaryLines:
    """One line per image (and per video) on stdout when the results themselves go to files."""

    def __init__(self):
        self.video, self.frames = None, 0

    def write(self, entry, image):
        name = entry.get("path") or "image"
        if _is_frame(entry):
            if name != self.video:
                self._end_video()
                self.video = name
            self.frames += 1
            return
        self._end_video()
        if entry.get("error"):
            print(f"{name}: failed (see stderr)", flush=True)
            return
        saved = f" -> {entry['save_path']}" if entry.get("save_path") else ""
        print(f"{name}: {len(entry.get('data', []))} instances{saved}", flush=True)

    def _end_video(self):
        if self.video is not None:
            print(f"{self.video}: {self.frames} frames", flush=True)
        self.video, self.frames = None, 0

    def close(self):
        self._end_video()


class Predictions:
    """predictions/: one JSON per image (json) or predictions.jsonl (jsonl); one JSONL per video."""

    def __init__(self, folder, fmt="json"):
        self.folder, self.fmt = Path(folder), fmt
        self.used, self.images_file, self.video_files = set(), None, {}

    def write(self, entry, image):
        self.folder.mkdir(parents=True, exist_ok=True)
        if _is_frame(entry):
            path = entry["path"]
            if path not in self.video_files:
                self._close_videos()
                self.video_files[path] = open(self.folder / f"{_video_stem(path)}.jsonl", "w")
            self.video_files[path].write(json.dumps(entry) + "\n")
        elif self.fmt == "jsonl":
            if self.images_file is None:
                self.images_file = open(self.folder / "predictions.jsonl", "w")
            self.images_file.write(json.dumps(entry) + "\n")
        else:
            stem = Path(str(entry.get("path") or "image")).stem
            draw.unique_path(self.folder, stem, ".json", self.used).write_text(json.dumps(entry))

    def _close_videos(self):
        for f in self.video_files.values():
            f.close()
        self.video_files.clear()

    def close(self):
        self._close_videos()
        if self.images_file:
            self.images_file.close()


class CocoResults:
    """COCO keypoint results (image_id from a numeric file stem, else the input's position; frame_id
    for video frames), written to a file or printed on stdout at the end."""

    def __init__(self, path=None):
        self.path, self.records, self.count = path, [], 0

    def write(self, entry, image):
        if _is_frame(entry):
            image_id = entry["frame_id"]
        else:
            stem = Path(str(entry.get("path") or "")).stem
            image_id = int(stem) if stem.isdigit() else self.count
        self.records += to_coco_results([entry], [image_id])
        self.count += 1

    def close(self):
        if self.path is None:
            print(json.dumps(self.records))
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            Path(self.path).write_text(json.dumps(self.records))


class Visualizations:
    """Drawn images in a folder (each entry gets its 'save_path'); one MP4 per video at its frame rate."""

    def __init__(self, folder, meta, style, fps):
        self.folder, self.meta, self.style, self.fps = Path(folder), meta, style, fps
        self.used, self.writer, self.video = set(), None, None

    def write(self, entry, image):
        if image is None or entry.get("error"):
            return
        drawn = draw.draw(image, entry, self.meta, **self.style)
        if _is_frame(entry):
            if entry["path"] != self.video:
                self._close_video()
                self.video = entry["path"]
                self.writer = video.VideoWriter(self.folder / f"{_video_stem(self.video)}.mp4",
                                                self.fps.get(self.video, 30.0))
            self.writer.write(drawn)
        else:
            entry["save_path"] = draw.save(drawn, self.folder, entry.get("path") or "image", self.used)

    def _close_video(self):
        if self.writer is not None:
            self.writer.close()
        self.writer, self.video = None, None

    def close(self):
        self._close_video()
