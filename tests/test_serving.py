"""`hub serving`: a real gunicorn server with real modules, called over HTTP."""
import base64
import json
import socket
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from hub_core import images as imio
from hub_core.serving.http1 import REASONS
from hub_core.serving.process import ServerProcess

IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "images"
ONE_FACE = IMAGES / "linzaer_13.jpg"
CROWD = IMAGES / "linzaer_1.jpg"
LANDMARKS = "face_landmark_localization"
DETECTOR = "ultra_light_fast_generic_face_detector_1mb_320"


def b64(path):
    return base64.b64encode(Path(path).read_bytes()).decode()


def server_env(tmp):
    return {"HUB_HOME": str(tmp), "HUB_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serving")
    srv = ServerProcess(["-m", LANDMARKS, DETECTOR, "--workers", "2"], env=server_env(tmp),
                        log_path=tmp / "server.log")
    with srv:
        yield srv


def predict(server, module, **kwargs):
    return requests.post(f"{server.url}/predict/{module}", timeout=60, **kwargs)


def assert_error(reply, http_status, code, *words):
    assert reply.status_code == http_status, reply.text
    body = reply.json()
    assert body["status"] == code and body["results"] == ""
    assert "Traceback" not in body["msg"]
    for word in words:
        assert word in body["msg"]


def test_health_ready_models_openapi(server):
    assert requests.get(server.url + "/health").json()["status"] == "ok"
    ready = requests.get(server.url + "/ready").json()
    assert ready == {"ready": True, "modules": [LANDMARKS, DETECTOR]}
    models = {m["name"]: m for m in requests.get(server.url + "/models").json()["modules"]}
    face = models[LANDMARKS]
    assert face["type"] == "keypoint_detection" and face["num_keypoints"] == 68
    assert len(face["keypoints"]) == 68 and [36, 37] in face["skeleton"]
    assert "confs_threshold" not in face["parameters"] and "batch_size" in face["parameters"]
    assert models[DETECTOR]["type"] == "face_detection" and models[DETECTOR]["labels"] == ["face"]
    assert {"confs_threshold", "iou_threshold"} <= set(models[DETECTOR]["parameters"])
    doc = requests.get(server.url + "/openapi.json").json()
    assert doc["openapi"].startswith("3.") and "/predict/{module}" in doc["paths"]
    page = requests.get(server.url + "/")
    assert page.status_code == 200 and 'id="count"' in page.text


def test_openapi_lists_every_status_the_server_answers(server):
    """Every reply the front or a worker can give a client (the front's status table) is documented on every
    predict path, 503 with its Retry-After header."""
    doc = requests.get(server.url + "/openapi.json").json()
    sent = {str(status) for status in REASONS if status >= 200}
    assert {"400", "408", "413", "503"} <= sent
    for path in ("/predict/{module}", f"/predict/{LANDMARKS}", f"/predict/{DETECTOR}"):
        responses = doc["paths"][path]["post"]["responses"]
        assert sent <= set(responses), path
        assert "Retry-After" in responses["503"]["headers"]
        assert "max_images" in responses["413"]["description"] and "body_timeout" in responses["408"]["description"]


def test_landmarks_match_in_process_module(server):
    reply = predict(server, LANDMARKS, json={"images": [b64(ONE_FACE), b64(CROWD)]})
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "000" and body["msg"] == ""
    one, crowd = body["results"]
    assert len(one["data"]) >= 1 and all(len(face) == 68 for face in one["data"])
    assert len(crowd["data"]) > 10 and all(len(face) == 68 for face in crowd["data"])
    # The server returns what module.predict returns for the same image.
    from hub_core import Module
    local = Module(name=LANDMARKS).predict(images=[imio.read(ONE_FACE)])[0]
    assert len(local["data"]) == len(one["data"])
    assert np.abs(np.array(local["data"]) - np.array(one["data"])).max() < 0.01


def test_face_detector_and_thresholds(server):
    crowd = predict(server, DETECTOR, json={"images": [b64(CROWD)]}).json()["results"][0]["data"]
    assert len(crowd) > 10
    assert {"left", "top", "right", "bottom", "confidence", "label"} <= set(crowd[0])
    strict = predict(server, DETECTOR, json={"images": [b64(CROWD)], "confs_threshold": 0.95}).json()
    assert 0 < len(strict["results"][0]["data"]) < len(crowd)
    assert min(d["confidence"] for d in strict["results"][0]["data"]) >= 0.95


def test_multipart_upload_with_form_fields(server):
    with open(ONE_FACE, "rb") as a, open(CROWD, "rb") as b:
        reply = predict(server, LANDMARKS, files=[("images", ("one.jpg", a, "image/jpeg")),
                                                  ("photo", ("crowd.jpg", b, "image/jpeg"))],
                        data={"batch_size": "2", "visualization": "true"})
    assert reply.status_code == 200, reply.text
    one, crowd = reply.json()["results"]
    assert len(one["data"]) >= 1 and len(crowd["data"]) > 10
    drawn = imio.from_base64(one["visualization"], "visualization")
    original = imio.read(ONE_FACE)
    assert drawn.shape == original.shape
    x, y = np.round(one["data"][0][30]).astype(int)  # nose tip: a landmark dot is drawn there
    assert np.abs(drawn[y - 1:y + 2, x - 1:x + 2].astype(int) - original[y - 1:y + 2, x - 1:x + 2]).max() > 40


def test_one_bad_image_fails_only_its_entry(server):
    reply = predict(server, LANDMARKS, json={"images": [b64(ONE_FACE), "not base64!!", base64.b64encode(b"hello").decode()]})
    assert reply.status_code == 200
    good, corrupt, not_image = reply.json()["results"]
    assert len(good["data"][0]) == 68
    assert "images[1]" in corrupt["error"] and "base64" in corrupt["error"]
    assert "images[2]" in not_image["error"] and corrupt["data"] == []
    strict = predict(server, LANDMARKS, json={"images": [b64(ONE_FACE), "not base64!!"], "strict": True})
    assert_error(strict, 400, "101", "images[1]", "base64")


@pytest.mark.parametrize("body, words", [
    ({"images": [b64(ONE_FACE)], "output_dir": "/tmp/x"}, ["output_dir"]),
    ({"images": [b64(ONE_FACE)], "use_gpu": True}, ["use_gpu"]),
    ({"images": [b64(ONE_FACE)], "paths": ["/etc/passwd"]}, ["paths"]),
    ({"images": [b64(ONE_FACE)], "batch_size": "4"}, ["batch_size"]),
    ({"images": [b64(ONE_FACE)], "batch_size": 0}, ["batch_size"]),
    ({"images": [b64(ONE_FACE)], "visualization": "yes"}, ["visualization"]),
    ({"images": [b64(ONE_FACE)], "confs_threshold": 0.5}, ["confs_threshold"]),  # not a detector
    ({"image": [b64(ONE_FACE)]}, ["images"]),
    ({"images": b64(ONE_FACE)}, ["images"]),
    ({"images": []}, ["images"]),
    ([b64(ONE_FACE)], ["JSON object"]),
])
def test_bad_requests_are_400(server, body, words):
    assert_error(predict(server, LANDMARKS, json=body), 400, "101", *words)


def test_detector_threshold_out_of_range_is_400(server):
    reply = predict(server, DETECTOR, json={"images": [b64(ONE_FACE)], "confs_threshold": 1.5})
    assert_error(reply, 400, "101", "confs_threshold")


def test_bad_json_unknown_module_content_type(server):
    bad_json = predict(server, LANDMARKS, data=b'{"images": [', headers={"Content-Type": "application/json"})
    assert_error(bad_json, 400, "101", "JSON")
    assert_error(predict(server, "no_such_module", json={"images": [b64(ONE_FACE)]}), 404, "111", "no_such_module")
    assert_error(predict(server, LANDMARKS, data=b"images=1", headers={"Content-Type": "text/plain"}),
                 415, "112", "text/plain")
    assert_error(predict(server, LANDMARKS, data=b"x=1", headers={"Content-Type": "application/x-www-form-urlencoded"}),
                 415, "112")


def test_image_over_pixel_limit_is_413(server):
    # A PNG header announcing 20000 x 20000 pixels: refused from the header, never decoded.
    png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 20000, 20000) + bytes(9)
    reply = predict(server, LANDMARKS, json={"images": [b64(ONE_FACE), base64.b64encode(png).decode()]})
    assert_error(reply, 413, "101", "images[1]", "HUB_MAX_IMAGE_PIXELS")


def test_body_over_limit_is_413_before_reading_it(server):
    # Declares 30 MB but sends 64 kB: the server must answer from the Content-Length alone.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        s.sendall(f"POST /predict/{LANDMARKS} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {30 * 1024 * 1024}\r\n\r\n".encode() + b'{"images": ["' + b"A" * 65536)
        reply = b""
        while b"\r\n\r\n" not in reply or not _complete(reply):  # headers and body may come in two reads
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["status"] == "101"


def _complete(reply):
    """Whether a raw HTTP reply holds its whole body (by Content-Length)."""
    head, _, body = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def test_every_image_bad_is_400_with_the_per_image_errors(server):
    reply = predict(server, LANDMARKS, json={"images": ["not base64!!", b64(ONE_FACE)[:200], base64.b64encode(b"hi").decode()]})
    assert reply.status_code == 400
    body = reply.json()
    assert body["status"] == "101" and "all 3 images failed" in body["msg"]
    assert [("images[%d]" % i) in entry["error"] for i, entry in enumerate(body["results"])] == [True] * 3


def test_deeply_nested_json_is_400(server):
    reply = predict(server, LANDMARKS, data=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert_error(reply, 400, "101", "JSON")


def test_foreign_host_is_refused_and_the_page_has_security_headers(server):
    refused = requests.get(server.url + "/models", headers={"Host": "attacker.example"})
    assert_error(refused, 400, "101", "attacker.example")
    assert requests.get(server.url + "/models", headers={"Host": "localhost:8866"}).status_code == 200
    page = requests.get(server.url + "/")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"


def test_server_still_correct_after_errors(server):
    for _ in range(3):
        predict(server, LANDMARKS, data=b"{", headers={"Content-Type": "application/json"})
    results = [predict(server, LANDMARKS, json={"images": [b64(ONE_FACE)]}).json()["results"][0] for _ in range(4)]
    assert all(len(r["data"]) == len(results[0]["data"]) and len(r["data"][0]) == 68 for r in results)


def _descendants(pid):
    from hub_core.serving.launcher import _descendants
    return _descendants(pid)


def _port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _alive(pid):
    """Running (a zombie that nobody reaps yet, as under a container's PID 1, has already exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_stop_ends_master_and_workers(server):
    pid_file = Path(server.env["HUB_HOME"]) / "serving" / f"{server.port}.pid"
    master = int(pid_file.read_text())
    assert master == server.proc.pid
    workers = _descendants(master)
    assert len(workers) == 3  # the workers' gunicorn master and its 2 workers
    started = time.monotonic()
    done = server.stop()
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 8  # under the workers' graceful_timeout: no worker had to be killed
    assert server.proc.poll() is not None
    deadline = time.monotonic() + 10  # dying takes a moment on a loaded machine
    while any(_alive(p) for p in [master, *workers]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in [master, *workers])
    assert _port_free(server.port) and not pid_file.exists()
    again = server.stop()
    assert again.returncode == 1 and "no server" in again.stderr


def test_config_file(tmp_path):
    config = {"modules_info": {LANDMARKS: {"init_args": {"landmark_model": "mobilefacenet_68"},
                                           "predict_args": {"batch_size": 2}}},
              "workers": 1, "use_gpu": False, "port": 1}  # -p on the command line wins over "port"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    srv = ServerProcess(["--config", str(path)], env=server_env(tmp_path), log_path=tmp_path / "server.log")
    with srv:
        assert [m["name"] for m in requests.get(srv.url + "/models").json()["modules"]] == [LANDMARKS]
        result = predict(srv, LANDMARKS, json={"images": [b64(ONE_FACE)]}).json()["results"][0]
        # init_args reached the module: MobileFaceNet's landmarks, not the default PFLD's.
        from hub_core import Module
        chosen = Module(name=LANDMARKS, landmark_model="mobilefacenet_68").predict(images=[imio.read(ONE_FACE)])[0]
        default = Module(name=LANDMARKS).predict(images=[imio.read(ONE_FACE)])[0]
        assert np.abs(np.array(result["data"]) - np.array(chosen["data"])).max() < 0.01
        assert np.abs(np.array(result["data"]) - np.array(default["data"])).max() > 0.5
        assert "1 worker" in srv.log_tail()
    assert not (tmp_path / "serving" / f"{srv.port}.pid").exists()


def test_start_refuses_unknown_module_and_busy_port(tmp_path):
    import subprocess
    from hub_core.serving.process import hub_command
    env = {**server_env(tmp_path), "PATH": __import__("os").environ["PATH"]}
    unknown = subprocess.run(hub_command() + ["serving", "start", "-m", "nope", "-p", "1"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "unknown module" in unknown.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = subprocess.run(hub_command() + ["serving", "start", "-m", LANDMARKS, "-p", str(port)], env=env,
                               capture_output=True, text=True, timeout=60)
    assert taken.returncode == 2 and "already in use" in taken.stderr
