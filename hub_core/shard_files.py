"""A batch job's output folder: one file per shard, each written atomically (a shard's file exists
only once all its rows are in it), so a finished shard is one whose file exists."""
import json
import os
import tempfile
from pathlib import Path

FORMATS = ("jsonl", "parquet")


def parquet_schema():
    import pyarrow as pa
    return pa.schema([("row_id", pa.int64()), ("source", pa.string()), ("module", pa.string()),
                      ("module_version", pa.string()), ("schema_version", pa.string()), ("width", pa.int32()),
                      ("height", pa.int32()), ("num_instances", pa.int32()), ("error", pa.string()),
                      ("result", pa.string()), ("frame_id", pa.int64()), ("timestamp", pa.float64())])


def shard_path(out, shard, fmt):
    return Path(out) / f"part-{shard:05d}.{fmt}"


def write_atomic(path, write):
    """write(tmp_path) then rename onto path: readers and --resume never see a partial file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_shard(path, fmt, rows=None, columns=None):
    """JSONL from rows (dicts), or Parquet from columns (lists by name), atomically."""
    if fmt == "jsonl":
        def write(tmp):
            with open(tmp, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        def write(tmp):
            pq.write_table(pa.Table.from_pydict(columns, schema=parquet_schema()), tmp)
    write_atomic(path, write)


def shard_counts(path, fmt):
    """(rows, errors) of a finished shard's file."""
    if fmt == "jsonl":
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return len(rows), sum(1 for r in rows if r.get("error"))
    import pyarrow.parquet as pq
    errors = pq.read_table(path, columns=["error"]).column("error")
    return len(errors), len(errors) - errors.null_count


def write_json(path, data):
    write_atomic(path, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=1)))
