"""The model store against a real HTTP server on loopback: good, wrong-checksum and cut-short downloads."""
import hashlib
import http.server
import threading

import pytest

from hub_core import store

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:100_000])  # then close the connection early
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path != "/model.onnx":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HUB_MODEL_MIRRORS", str(tmp_path / "mirror"))
    return tmp_path / "home" / "models"


def spec(url, sha=hashlib.sha256(PAYLOAD).hexdigest(), name="model.onnx"):
    return {"file": name, "sha256": sha, "url": url}


def test_good_download_is_cached_and_verified(server, cache):
    path = store.resolve(spec(server + "/model.onnx"))
    assert path == cache / "model.onnx" and path.read_bytes() == PAYLOAD
    assert list(cache.iterdir()) == [path]
    assert store.resolve(spec(server + "/gone")) == path  # second call is served from the cache


def test_wrong_checksum_names_the_file_and_leaves_nothing(server, cache):
    with pytest.raises(store.ChecksumError, match="model.onnx"):
        store.resolve(spec(server + "/model.onnx", sha="0" * 64))
    assert not cache.exists() or list(cache.iterdir()) == []


def test_interrupted_download_leaves_nothing(server, cache):
    with pytest.raises(Exception) as err:
        store.resolve(spec(server + "/cut"))
    assert not isinstance(err.value, store.ModelNotFound)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_offline_forbids_the_network(server, cache, monkeypatch):
    monkeypatch.setenv("HUB_OFFLINE", "1")
    with pytest.raises(store.ModelNotFound, match="HUB_OFFLINE"):
        store.resolve(spec(server + "/model.onnx"))


def test_mirror_is_used_and_a_corrupt_mirror_copy_is_not(server, cache, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "model.onnx").write_bytes(PAYLOAD)
    assert store.resolve(spec(None)) == mirror / "model.onnx"
    (mirror / "model.onnx").write_bytes(PAYLOAD[:-1] + b"x")
    with pytest.raises(store.ModelNotFound, match="wrong sha256"):
        store.resolve(spec(None))
    assert store.resolve(spec(server + "/model.onnx")) == cache / "model.onnx"  # falls through to the URL


def test_shared_models_are_the_default_mirror(monkeypatch):
    monkeypatch.delenv("HUB_MODEL_MIRRORS", raising=False)
    assert any(d.name == "models" and d.parent.name == "shared" for d in store.mirror_dirs())
