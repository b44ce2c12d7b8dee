"""The ray engine's driver side, without Ray: inputs listed into deterministic shards, atomic shard
files, and the CLI refusing what --engine ray cannot do."""
import json
import shutil
import subprocess

import pytest

from conftest import DATA, REPO, hub_cmd
from hub_core import manifest as mf
from hub_core import shard_files as sf

FACES = sorted((DATA / "face" / "300w_afw" / "images").glob("*.jpg"))


def test_folder_listing_is_recursive_sorted_and_skips_other_files(tmp_path, capsys):
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    shutil.copy(FACES[0], tmp_path / "b" / "1.jpg")
    shutil.copy(FACES[1], tmp_path / "a" / "2.jpg")
    shutil.copy(FACES[2], tmp_path / "0.jpg")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    uris = mf.list_inputs(tmp_path)
    assert uris == [str(tmp_path / "0.jpg"), str(tmp_path / "a" / "2.jpg"), str(tmp_path / "b" / "1.jpg")]
    assert "notes.txt" in capsys.readouterr().err


def test_manifests_txt_and_jsonl(tmp_path):
    txt = tmp_path / "list.txt"
    txt.write_text(f"# photos\n{FACES[0]}\n\n{FACES[1]}\n")
    jsonl = tmp_path / "list.jsonl"
    jsonl.write_text(json.dumps({"uri": str(FACES[0])}) + "\n" + json.dumps({"path": "s3://bucket/x.jpg"}) + "\n")
    assert mf.list_inputs(txt) == [str(FACES[0]), str(FACES[1])]
    assert mf.list_inputs(jsonl) == [str(FACES[0]), "s3://bucket/x.jpg"]
    jsonl.write_text('{"file": "x.jpg"}\n')
    with pytest.raises(mf.JobError, match="list.jsonl:1"):
        mf.list_inputs(jsonl)
    with pytest.raises(mf.JobError, match="no such file"):
        mf.list_inputs(tmp_path / "missing")


def test_shards_are_deterministic_runs_of_units():
    units = mf.units([str(p) for p in FACES[:40]], segment_frames=100)
    rows_per_shard = mf.default_rows_per_shard(len(units))
    groups = mf.shards(units, rows_per_shard)
    assert rows_per_shard == 16 and [len(g) for g in groups] == [16, 16, 8]
    assert [u["row_id"] for g in groups for u in g] == list(range(40))
    assert groups == mf.shards(mf.units([str(p) for p in FACES[:40]], 100), 16)
    assert mf.default_rows_per_shard(10_000_000) == 1000


def test_shard_file_appears_only_when_complete(tmp_path):
    path = sf.shard_path(tmp_path, 3, "jsonl")
    with pytest.raises(ZeroDivisionError):
        sf.write_shard(path, "jsonl", rows=({"row_id": i, "x": 1 / (2 - i)} for i in range(4)))
    assert not path.exists() and list(tmp_path.iterdir()) == []
    sf.write_shard(path, "jsonl", rows=[{"row_id": 0}, {"row_id": 1, "error": "bad"}])
    assert path.name == "part-00003.jsonl" and sf.shard_counts(path, "jsonl") == (2, 1)


@pytest.mark.parametrize("flags, message", [(["--engine", "ray"], "--output_dir"),
                                            (["--engine", "ray", "--output_dir", "o", "--visualization"], "--visualization"),
                                            (["--output_format", "parquet"], "--engine ray")])
def test_cli_refuses_what_the_engine_cannot_do(flags, message):
    proc = subprocess.run(hub_cmd() + ["run", "face", str(FACES[0])] + flags, capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode != 0 and message in proc.stderr and proc.stderr.count("\n") == 1
