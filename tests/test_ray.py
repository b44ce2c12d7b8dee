"""--engine ray on a local Ray cluster: rows identical to in-process output, error rows, resume,
a worker killed mid-run, the public map_batches class. The cluster binds to 127.0.0.1 only."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import DATA, REPO, hub_cmd

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[ray]' (Python >= 3.10)")
pa = pytest.importorskip("pyarrow", reason="pyarrow comes with the ray extra")
pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow comes with the ray extra")

import hub_core as hub  # noqa: E402
import hub_core.ray as hub_ray  # noqa: E402
from hub_core import shard_files  # noqa: E402
from hub_core.serving.launcher import _descendants  # noqa: E402 - the process-tree walk `hub serving stop` uses

FACES = sorted((DATA / "face" / "300w_afw" / "images").glob("*.jpg"))[:16]
MODULE = "face_landmark_localization"
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}  # /proc/net/tcp{,6}: 127.0.0.1, ::ffff:127.0.0.1


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for this file's in-process tests (run() uses it and leaves it up); stopped at the end."""
    assert hub_ray.start_cluster(None, cpus=3)
    yield
    hub_ray.stop_cluster()


def _manifest(tmp_path, uris):
    path = tmp_path / "inputs.txt"
    path.write_text("".join(f"{u}\n" for u in uris))
    return path


def _jsonl_rows(out):
    return [json.loads(line) for p in sorted(out.glob("part-*.jsonl")) for line in p.read_text().splitlines()]


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _cluster_daemons():
    """pids of the Ray daemons (GCS server, raylet) running on this machine."""
    found = set()
    for proc in Path("/proc").glob("[0-9]*"):
        if _cmdline(proc.name).split(b"\0")[0].endswith((b"/gcs_server", b"/raylet")):
            found.add(int(proc.name))
    return found


def _listening_addresses(pids):
    """Local addresses of the TCP sockets these processes listen on."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                addresses.append(fields[1].split(":")[0])
    return addresses


def test_rows_match_in_process_and_bad_files_become_error_rows(cluster, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    bad = [str(empty), str(tmp_path / "missing.jpg"), str(text)]
    uris = [str(p) for p in FACES[:8]] + bad + [str(p) for p in FACES[8:]]
    out = tmp_path / "out"
    summary = hub_ray.run(MODULE, _manifest(tmp_path, uris), out, num_workers=2, rows_per_shard=4, progress=False)

    rows = _jsonl_rows(out)
    assert [r["row_id"] for r in rows] == list(range(len(uris)))
    assert [r["source"] for r in rows] == uris
    expected = hub.Module(name=MODULE).keypoint_detection(paths=[str(p) for p in FACES])
    good = [r for r in rows if r["source"] not in bad]
    assert len(good) == 16
    for row, entry in zip(good, expected):
        assert {k: row[k] for k in entry} == entry
        assert (row["module"], row["schema_version"]) == (MODULE, hub.RESULT_SCHEMA_VERSION)
    errors = [r for r in rows if r["source"] in bad]
    assert [r["error"].split(":")[0] for r in errors] == bad
    assert "empty file" in errors[0]["error"] and "not found" in errors[1]["error"] and "decodable" in errors[2]["error"]
    assert (summary["rows"], summary["errors"], summary["shards"]) == (19, 3, 5)
    assert json.loads((out / "summary.json").read_text())["rows"] == 19 and (out / "_SUCCESS").is_file()
    assert ray.data.DataContext.get_current().target_max_block_size != 1  # the job's settings did not leak

    cluster_pids = _descendants(os.getpid())
    addresses = _listening_addresses(cluster_pids)
    assert addresses and set(addresses) <= LOOPBACK, addresses


def test_resume_recomputes_only_deleted_shards(cluster, tmp_path):
    out = tmp_path / "out"
    inputs = _manifest(tmp_path, FACES)
    first = hub_ray.run(MODULE, inputs, out, output_format="parquet", rows_per_shard=4, progress=False)
    assert (first["shards"], first["rows"], first["errors"]) == (4, 16, 0)
    table = pq.read_table(sorted(out.glob("part-*.parquet"))[0])
    assert table.schema == shard_files.parquet_schema()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")}
    reference = {name: pq.read_table(out / name).to_pydict() for name in before}
    for name in ("part-00001.parquet", "part-00003.parquet"):
        (out / name).unlink()

    with pytest.raises(ValueError, match="--resume"):
        hub_ray.run(MODULE, inputs, out, output_format="parquet", rows_per_shard=4, progress=False)
    again = hub_ray.run(MODULE, inputs, out, output_format="parquet", resume=True, progress=False)
    assert (again["shards_computed"], again["shards_skipped"], again["rows"]) == (2, 2, 16)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")}
    assert sorted(after) == sorted(before)
    assert after["part-00000.parquet"] == before["part-00000.parquet"]
    assert after["part-00002.parquet"] == before["part-00002.parquet"]
    for name in ("part-00001.parquet", "part-00003.parquet"):
        assert pq.read_table(out / name).to_pydict() == reference[name]


def test_video_segments_give_in_process_frames_and_restart_tracks(cluster, tmp_path):
    """A 30-frame pan over a group photo, cut into segments of 12 frames."""
    image = cv2.imread(str(DATA / "images" / "linzaer_13.jpg"))
    video = tmp_path / "pan.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 15, (360, 300))
    for i in range(30):
        writer.write(np.ascontiguousarray(image[20:320, 2 * i:2 * i + 360]))
    writer.release()
    out = tmp_path / "out"
    summary = hub_ray.run(MODULE, _manifest(tmp_path, [video]), out, segment_frames=12, rows_per_shard=12,
                          output_format="parquet", progress=False)
    assert (summary["rows"], summary["shards"]) == (30, 3)
    table = pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("part-*.parquet"))])
    rows = sorted(zip(table.column("frame_id").to_pylist(), table.column("result").to_pylist()))
    expected = [entry for _, entry in hub.infer(MODULE, str(video))]
    assert [f for f, _ in rows] == list(range(30))
    for (frame_id, result), entry in zip(rows, expected):
        got = json.loads(result)
        assert got["data"] == entry["data"] and got["timestamp"] == entry["timestamp"]
        assert len(got["data"]) >= 2  # the two faces in the panned crop
        ids = [inst["track_id"] for inst in got["instances"]]
        if frame_id in (0, 12, 24):  # a segment's first frame: its tracks are numbered afresh
            assert sorted(ids) == list(range(len(ids)))
    assert table.column("row_id").to_pylist() == [0] * 30


def test_predictor_class_in_a_map_batches_pipeline(cluster):
    ds = ray.data.from_items([{"uri": str(p)} for p in FACES[:4]] + [{"uri": "/no/such/image.png"}])
    ds = ds.map_batches(hub_ray.KeypointPredictor, fn_constructor_kwargs={"module": MODULE, "threads": 1},
                        batch_size=5, compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1)
    rows = ds.take_all()
    expected = hub.Module(name=MODULE).keypoint_detection(paths=[str(p) for p in FACES[:4]])
    assert [json.loads(r["result"])["data"] for r in rows[:4]] == [e["data"] for e in expected]
    assert [r["num_instances"] for r in rows[:4]] == [len(e["data"]) for e in expected]
    assert rows[4]["error"] == "/no/such/image.png: file not found" and rows[4]["num_instances"] == 0


@pytest.mark.slow
def test_worker_sigkilled_mid_run_every_row_once(tmp_path):
    """The CLI on its own local cluster; one of two workers is SIGKILLed once the first shard is written."""
    uris = [str(p) for p in sorted((DATA / "face" / "300w_afw" / "images").glob("*.jpg"))[:160]]
    out = tmp_path / "out"
    proc = subprocess.Popen(hub_cmd() + ["run", MODULE, "--input_path", str(_manifest(tmp_path, uris)),
                                         "--output_dir", str(out), "--engine", "ray", "--num_workers", "2", "--quiet"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        deadline = time.monotonic() + 180
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            if list(out.glob("part-*.jsonl")):
                workers = [pid for pid in _descendants(proc.pid) if b"MapWorker" in _cmdline(pid)]
                if workers:
                    os.kill(workers[0], signal.SIGKILL)
                    killed = workers[0]
                    daemons = _cluster_daemons() & set(_descendants(proc.pid))
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:  # out of time: end the job and the cluster it started
            for pid in _descendants(proc.pid) + [proc.pid]:
                os.kill(pid, signal.SIGKILL)
            proc.wait()
    assert killed is not None, "no worker was found running to kill"
    assert proc.returncode == 0, stderr
    deadline = time.monotonic() + 20
    while daemons & _cluster_daemons() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert daemons and not daemons & _cluster_daemons(), "the job's local cluster outlived it"
    rows = _jsonl_rows(out)
    assert sorted(r["row_id"] for r in rows) == list(range(len(uris)))
    assert all(not r.get("error") and r["data"] for r in rows[:5])
    assert json.loads((out / "summary.json").read_text())["rows"] == len(uris)
