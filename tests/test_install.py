"""hub install / uninstall / download under crafted names and archives, failures and concurrency."""
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile

import pytest

from conftest import REPO, hub_cmd
from hub_core import install as inst, names
from hub_core.module import Module, available

SOURCE = REPO / "modules" / "whole_image_detector"  # a module without model files: installs fast


def make_module(folder, name="whole_image_detector", version="1.0.0", model_files=None):
    """A copy of whole_image_detector with its name, version and model files rewritten."""
    shutil.copytree(SOURCE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    meta = json.loads((folder / "module.json").read_text())
    meta.update(name=name, version=version, model_files=model_files or {})
    (folder / "module.json").write_text(json.dumps(meta))
    return folder


def installed_version(home):
    return json.loads((home / "modules" / "whole_image_detector" / "module.json").read_text())["version"]


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "a" / "b" / "home"
    monkeypatch.setenv("HUB_HOME", str(home))
    monkeypatch.setenv("HUB_OFFLINE", "1")
    return home


def test_unsafe_module_names_are_refused_everywhere(home, tmp_path):
    outside = tmp_path / "a" / "outside"
    make_module(outside / "x")
    with pytest.raises(names.UnsafeName, match="outside"):
        inst.uninstall("../../outside/x")
    assert (outside / "x" / "module.py").is_file()
    with pytest.raises(names.UnsafeName):
        inst.install(make_module(tmp_path / "evil", name="../../outside/y"))
    assert not (outside / "y").exists() and not (home / "modules").exists()
    with pytest.raises(names.UnsafeName):
        inst.download("../../outside/x", tmp_path / "pack")
    with pytest.raises(ValueError, match="not a safe name"):
        Module(name="../../outside/x")


def test_unsafe_model_file_name_is_refused_at_install(home, tmp_path):
    spec = {"file": "../../x.onnx", "sha256": "0" * 64, "url": None}
    folder = make_module(tmp_path / "m", name="evil_model_file", model_files={"net": spec})
    (folder / "models").mkdir()
    (folder / "models" / "x.onnx").write_bytes(b"x")
    with pytest.raises(names.UnsafeName, match="x.onnx"):
        inst.install(folder)
    assert not (home.parent / "x.onnx").exists() and "evil_model_file" not in available()


def crafted_tarball(path, *members):
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name, data=b"x", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def module_members(prefix="m"):
    for path in sorted(SOURCE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield file_member(f"{prefix}/{path.relative_to(SOURCE)}", path.read_bytes())


def test_crafted_tarballs_are_refused_or_sanitised(home, tmp_path):
    sibling = file_member("m/../../escaped.txt")
    with pytest.raises(inst.UnsafeArchive, match="escaped.txt"):
        inst.install(crafted_tarball(tmp_path / "escape.tar.gz", *module_members(), sibling))
    fifo = tarfile.TarInfo("m/pipe")
    fifo.type = tarfile.FIFOTYPE
    with pytest.raises(inst.UnsafeArchive, match="pipe"):
        inst.install(crafted_tarball(tmp_path / "fifo.tar.gz", *module_members(), (fifo, None)))
    link = tarfile.TarInfo("m/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(inst.UnsafeArchive, match="passwd"):
        inst.install(crafted_tarball(tmp_path / "link.tar.gz", *module_members(), (link, None)))
    assert "whole_image_detector" not in [p.name for p in (home / "modules").glob("*")]
    setuid = file_member("m/tool.sh", b"#!/bin/sh\n", mode=0o4777)
    name, _, dest = inst.install(crafted_tarball(tmp_path / "setuid.tar.gz", *module_members(), setuid))
    mode = (dest / "tool.sh").stat().st_mode
    assert name == "whole_image_detector" and not mode & (stat.S_ISUID | stat.S_ISGID | stat.S_IWOTH)


def test_sibling_prefix_escape_against_the_extraction_folder(tmp_path):
    """'../destination/x' from 'dest' lands outside it, though its path starts with dest's as a string."""
    dest = tmp_path / "dest"
    dest.mkdir()
    archive = crafted_tarball(tmp_path / "a.tar.gz", file_member("../destination/evil.txt"))
    with pytest.raises(inst.UnsafeArchive, match="evil.txt"):
        inst._safe_extract(archive, dest)
    assert not (tmp_path / "destination").exists()


def test_failed_install_keeps_the_previous_copy(home, tmp_path):
    inst.install(make_module(tmp_path / "v1", version="1.0.0"))
    broken = make_module(tmp_path / "v2", version="2.0.0", model_files={
        "net": {"file": "missing.onnx", "sha256": "1" * 64, "url": None}})
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        inst.install(broken)
    assert installed_version(home) == "1.0.0"
    assert available()["whole_image_detector"] == home / "modules" / "whole_image_detector"
    assert [p.name for p in (home / "modules").iterdir() if p.name.startswith(".")] == []


def test_four_concurrent_installs_all_succeed(home, tmp_path):
    folder = make_module(tmp_path / "m", version="3.0.0")
    env = {**os.environ, "HUB_HOME": str(home)}
    procs = [subprocess.Popen(hub_cmd() + ["install", str(folder)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outcomes = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert [code for code, _ in outcomes] == [0, 0, 0, 0], outcomes
    assert installed_version(home) == "3.0.0"
    assert sorted(p.name for p in (home / "modules").iterdir()) == ["whole_image_detector"]
