"""A batch job's inputs listed once, by the driver, into deterministic shards.

A unit is one image, or one frame range of a video: {"row_id", "uri", "frame_start", "frame_end"}.
row_id is the input's position in the listing (a video's segments share it). Units are cut into
shards of about rows_per_shard output rows, in listing order, so the same inputs and settings always
give the same shards: that is what lets a job resume.
"""
import glob
import json
import os
import sys
from pathlib import Path

from . import images as imio
from . import video as vid
from .errors import HubError


class JobError(HubError, ValueError):
    """A batch job refused: inputs that cannot be listed, settings that do not fit, an output folder in use."""

MANIFEST_SUFFIXES = (".txt", ".jsonl", ".parquet")


def has_scheme(uri):
    return "://" in str(uri)


def list_inputs(input_path):
    """uris of a folder (recursive, sorted), a glob, or a manifest file (.txt: one per line;
    .jsonl: {"uri"} or {"path"} per line; .parquet: a 'uri' or 'path' column)."""
    text = str(input_path)
    p = Path(text)
    if p.is_file() and p.suffix.lower() in MANIFEST_SUFFIXES:
        return _read_manifest(p)
    if p.is_dir():
        uris, skipped = [], []
        for root, dirs, files in os.walk(p):
            dirs.sort()
            for f in sorted(files):
                (uris if _is_input(f) else skipped).append(os.path.join(root, f))
        if skipped:
            print(f"hub: skipping {len(skipped)} files that are not images or videos, e.g. {skipped[0]}", file=sys.stderr)
        if not uris:
            raise JobError(f"{text}: folder has no image or video files")
        return sorted(uris)
    if p.is_file():
        return [text]
    if glob.has_magic(text):
        uris = sorted(m for m in glob.glob(text, recursive=True) if os.path.isfile(m) and _is_input(m))
        if not uris:
            raise JobError(f"{text}: no image or video file matches this pattern")
        return uris
    raise JobError(f"{text}: no such file, folder or manifest")


def _is_input(name):
    return Path(name).suffix.lower() in imio.IMAGE_EXTENSIONS or vid.is_video(name)


def _read_manifest(path):
    suffix = path.suffix.lower()
    if suffix == ".txt":
        uris = [line.strip() for line in path.read_text().splitlines()]
        uris = [u for u in uris if u and not u.startswith("#")]
    elif suffix == ".jsonl":
        uris = []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                record = json.loads(line)
                if not isinstance(record, dict) or not ({"uri", "path"} & set(record)):
                    raise JobError(f"{path}:{n}: each line needs a 'uri' or 'path' field")
                uris.append(str(record.get("uri", record.get("path"))))
    else:
        import pyarrow.parquet as pq
        names = pq.read_schema(path).names
        column = "uri" if "uri" in names else "path" if "path" in names else None
        if column is None:
            raise JobError(f"{path}: needs a 'uri' or 'path' column (has {', '.join(names)})")
        uris = [str(u) for u in pq.read_table(path, columns=[column]).column(column).to_pylist()]
    if not uris:
        raise JobError(f"{path}: manifest lists no inputs")
    return uris


def units(uris, segment_frames):
    """Units of the uris: an image is one; a local video is cut into frame ranges of segment_frames
    (one unit when its frame count is unknown)."""
    out = []
    for row_id, uri in enumerate(uris):
        count = 0
        if vid.is_video(uri) and not has_scheme(uri):
            try:
                count = vid.video_info(uri)["frame_count"]
            except ValueError:
                count = 0  # unreadable: the worker reports it as an error row
        if vid.is_video(uri) and count > segment_frames:
            out += [{"row_id": row_id, "uri": uri, "frame_start": s, "frame_end": min(s + segment_frames, count)}
                    for s in range(0, count, segment_frames)]
        else:
            out.append({"row_id": row_id, "uri": uri, "frame_start": 0 if vid.is_video(uri) else None,
                        "frame_end": None})
    return out


def unit_rows(unit):
    """Output rows a unit is expected to give (a video segment: its frames)."""
    if unit["frame_start"] is None:
        return 1
    return unit["frame_end"] - unit["frame_start"] if unit["frame_end"] is not None else 1


def shards(all_units, rows_per_shard):
    """Consecutive runs of units holding about rows_per_shard output rows each."""
    out, current, rows = [], [], 0
    for unit in all_units:
        current.append(unit)
        rows += unit_rows(unit)
        if rows >= rows_per_shard:
            out.append(current)
            current, rows = [], 0
    if current:
        out.append(current)
    return out


def default_rows_per_shard(num_rows):
    """Enough shards to balance a pool and resume cheaply, few enough files: 16 to 1000 rows each."""
    return max(16, min(1000, -(-num_rows // 64)))
