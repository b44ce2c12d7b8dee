"""`hub serving` under hostile load: slow clients, oversize and over-budget requests, a full queue, abandoned
requests, stop under load, a decoy pid file and a killed master. Each test is bounded to a few seconds."""
import base64
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from hub_core.serving.launcher import _descendants
from hub_core.serving.process import ServerProcess, free_port, hub_command

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
ONE_FACE = base64.b64encode((IMAGES / "linzaer_13.jpg").read_bytes()).decode()
CROWD = base64.b64encode((IMAGES / "linzaer_1.jpg").read_bytes()).decode()
LANDMARKS = "face_landmark_localization"
DETECTOR = "ultra_light_fast_generic_face_detector_1mb_320"


def env_for(tmp):
    return {"HUB_HOME": str(tmp), "HUB_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One worker, small limits, a one-place queue with a short deadline; the fast mode keeps the crowd
    requests that occupy the worker short on a loaded machine."""
    tmp = tmp_path_factory.mktemp("hostile")
    srv = ServerProcess(["-m", LANDMARKS, "--mode", "fast", "--workers", "1", "--max_images", "8", "--max_request_pixels", "3000000",
                         "--max_body_mb", "2", "--queue", "1", "--queue_timeout", "0.3", "--header_timeout", "2",
                         "--body_timeout", "2"], env=env_for(tmp), log_path=tmp / "server.log")
    with srv:
        yield srv


def post(server, body, timeout=30, module=LANDMARKS):
    return requests.post(f"{server.url}/predict/{module}", json=body, timeout=timeout)


def health(server):
    return requests.get(server.url + "/health", timeout=5).json()["requests"]


def trickle(port, head, pieces, seconds, replies):
    """Send head, then one piece every 0.25 s for up to `seconds`; keep what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds + 2) as s:
        s.sendall(head)
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                s.sendall(pieces)
                time.sleep(0.25)
        except OSError:  # the server closed it
            pass
        try:
            replies.append(s.recv(200))
        except OSError:
            replies.append(b"")


def test_slow_clients_cost_a_socket_not_a_worker(server):
    replies = []
    body_head = (f"POST /predict/{LANDMARKS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 100000\r\n\r\n").encode()
    loris_head = f"POST /predict/{LANDMARKS} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
    threads = [threading.Thread(target=trickle, args=(server.port, body_head, b"A", 4, replies)) for _ in range(2)]
    threads += [threading.Thread(target=trickle, args=(server.port, loris_head, b"X-a: b\r\n", 4, replies))
                for _ in range(10)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    for _ in range(3):  # while the trickles last, normal requests are answered at once
        start = time.monotonic()
        reply = post(server, {"images": [ONE_FACE]}, timeout=10)
        assert reply.status_code == 200 and time.monotonic() - start < 2.5
    for t in threads:
        t.join()
    assert len(replies) == 12 and all(r.startswith(b"HTTP/1.1 408") for r in replies), replies


def test_image_count_and_pixel_budget_are_413_naming_the_limit(server):
    too_many = post(server, {"images": [ONE_FACE] * 9})
    assert too_many.status_code == 413 and "max_images" in too_many.json()["msg"]
    header_only = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 1000, 1000) + bytes(9)
    over_budget = post(server, {"images": [base64.b64encode(header_only).decode()] * 4})
    assert over_budget.status_code == 413 and "max_request_pixels" in over_budget.json()["msg"]


def test_chunked_oversize_body_is_413(server):
    def chunks():
        yield b'{"images": ["'
        for _ in range(40):
            yield b"A" * 65536
    reply = requests.post(f"{server.url}/predict/{LANDMARKS}", data=chunks(), timeout=30,
                          headers={"Content-Type": "application/json"})
    assert reply.status_code == 413 and "max_body_mb" in reply.json()["msg"]


def occupy_the_worker(server):
    """Two requests of 4 crowd photos each (about a second of work each), in threads, once the server has
    handed both to the worker: the one it computes and the one waiting behind it in its socket."""
    before = health(server).get("forwarded", 0)
    replies = []
    threads = [threading.Thread(target=lambda: replies.append(post(server, {"images": [CROWD] * 4, "batch_size": 1})))
               for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while health(server).get("forwarded", 0) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert health(server).get("forwarded", 0) >= before + 2, "the two requests were not handed to the worker"
    return threads, replies


def test_full_queue_and_waiting_past_the_deadline_are_503_at_once(server):
    threads, replies = occupy_the_worker(server)
    waiting = {}
    queued = threading.Thread(target=lambda: waiting.update(reply=post(server, {"images": [ONE_FACE]})))
    queued.start()
    time.sleep(0.1)
    start = time.monotonic()
    full = post(server, {"images": [ONE_FACE]})
    assert full.status_code == 503 and "queue limit" in full.json()["msg"] and int(full.headers["Retry-After"]) >= 1
    assert time.monotonic() - start < 0.5
    queued.join()
    late = waiting["reply"]
    assert late.status_code == 503 and "queue_timeout" in late.json()["msg"] and "Retry-After" in late.headers
    for t in threads:
        t.join()
    assert [r.status_code for r in replies] == [200, 200]


def test_abandoned_requests_are_not_computed(server):
    """A client that leaves while its request waits in the worker's socket, and one that leaves while queued:
    the worker computes neither (it counts what it computed and what it skipped)."""
    before = health(server)
    count = lambda name: health(server).get(name, 0) - before.get(name, 0)
    replies = []
    busy = threading.Thread(target=lambda: replies.append(post(server, {"images": [CROWD] * 8, "batch_size": 1})))
    busy.start()
    deadline = time.monotonic() + 60
    while count("forwarded") < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert count("forwarded") == 1, "the busy request was not handed to the worker"
    with pytest.raises(requests.Timeout):  # handed to the worker's socket behind the busy request
        post(server, {"images": [ONE_FACE]}, timeout=0.2)
    assert count("forwarded") == 2
    with pytest.raises(requests.Timeout):  # queued: the one slot is taken
        post(server, {"images": [ONE_FACE]}, timeout=0.1)
    busy.join()
    start = time.monotonic()
    assert post(server, {"images": [ONE_FACE]}).status_code == 200 and time.monotonic() - start < 2
    assert [r.status_code for r in replies] == [200]
    assert (count("computed"), count("skipped_by_worker"), count("client_gone")) == (2, 1, 1)


def test_stop_answers_every_request_in_flight(tmp_path):
    srv = ServerProcess(["-m", DETECTOR, "--workers", "1"], env=env_for(tmp_path), log_path=tmp_path / "server.log")
    with srv:
        replies = []
        threads = [threading.Thread(target=lambda: replies.append(post(srv, {"images": [CROWD] * 4}, module=DETECTOR)))
                   for _ in range(4)]
        for t in threads:
            t.start()
        while health(srv).get("received", 0) < 4:
            time.sleep(0.02)
        done = srv.stop()
        for t in threads:
            t.join()
    assert done.returncode == 0, done.stderr
    assert [r.status_code for r in replies] == [200] * 4


def test_stop_does_not_signal_a_decoy_named_in_the_pid_file(tmp_path):
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "hub", "serving", "start"])
    try:
        port = free_port()
        pid_file = tmp_path / "serving" / f"{port}.pid"
        pid_file.parent.mkdir()
        pid_file.write_text(f"{decoy.pid}\n")
        done = subprocess.run(hub_command() + ["serving", "stop", "-p", str(port)], capture_output=True, text=True,
                              timeout=60, env={**os.environ, **env_for(tmp_path)})
        assert done.returncode == 1 and "not the server" in done.stderr
        time.sleep(0.2)
        assert decoy.poll() is None
    finally:
        decoy.kill()
        decoy.wait()


def test_killed_master_leaves_no_worker_behind(tmp_path):
    srv = ServerProcess(["-m", DETECTOR, "--workers", "1"], env=env_for(tmp_path), log_path=tmp_path / "server.log")
    srv.start()
    family = _descendants(srv.proc.pid)
    assert len(family) == 2  # the workers' gunicorn master and its worker
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    deadline = time.monotonic() + 15
    while any(Path(f"/proc/{p}").exists() for p in family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{p}").exists() for p in family)
    with pytest.raises(requests.ConnectionError):
        requests.get(srv.url + "/health", timeout=2)
    stop = srv.stop()
    assert stop.returncode == 1 and "not running" in stop.stderr
    again = ServerProcess(["-m", DETECTOR, "--workers", "1"], port=srv.port, env=env_for(tmp_path))
    with again:
        assert requests.get(again.url + "/health", timeout=5).json()["status"] == "ok"
