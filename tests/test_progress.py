"""`hub eval` and `hub benchmark` show a tqdm bar on a terminal and print none into a pipe."""
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import termios

import pytest

from conftest import DATA, hub_cmd

AFW = DATA / "face" / "300w_afw"


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """4 AFW images and their annotations."""
    tmp = tmp_path_factory.mktemp("progress")
    data = json.loads((AFW / "annotations_68pt_coco.json").read_text())
    images = data["images"][:4]
    ids = {im["id"] for im in images}
    folder = tmp / "images"
    folder.mkdir()
    for im in images:
        os.symlink(AFW / im["file_name"], folder / os.path.basename(im["file_name"]))
    ann = tmp / "ann.json"
    ann.write_text(json.dumps({**data, "images": [{**im, "file_name": os.path.basename(im["file_name"])} for im in images],
                               "annotations": [a for a in data["annotations"] if a["image_id"] in ids]}))
    return ann, folder


def _run(args, terminal):
    """(exit code, what reached stderr) with stderr a pseudo-terminal or a pipe."""
    env = {**os.environ, "HUB_NUM_THREADS": "1"}
    if not terminal:
        proc = subprocess.run(hub_cmd() + args, capture_output=True, text=True, timeout=300, env=env)
        return proc.returncode, proc.stderr
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    proc = subprocess.Popen(hub_cmd() + args, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        try:
            data = os.read(master, 4096) if ready else b""
        except OSError:  # the child closed the terminal
            data = b""
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("command", ["eval", "benchmark"])
def test_progress_bar_on_terminal_only(small_set, command, tmp_path):
    ann, folder = small_set
    args = (["eval", "face_landmark_localization", "--ann", str(ann), "--images", str(folder)] if command == "eval" else
            ["benchmark", "face_landmark_localization", "--images", str(folder), "--repeat", "1"])
    args += ["--out", str(tmp_path / "report.json")]
    code, shown = _run(args, terminal=True)
    assert code == 0, shown
    assert f"hub {command}" in shown and "/4 [" in shown, shown  # tqdm may skip redrawing the last step
    code, piped = _run(args, terminal=False)
    assert code == 0, piped
    assert "hub " + command not in piped and "it/s" not in piped and "img/s" not in piped, piped
