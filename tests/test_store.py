"""The model store against a real HTTP server on loopback: good, wrong-checksum and cut-short downloads."""
import hashlib
import http.server
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from hub_core import names, store

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
GETS = []


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        GETS.append(self.path)
        if self.path == "/stall":  # headers and a few bytes, then nothing
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:10])
            self.wfile.flush()
            time.sleep(6)
            return
        if self.path == "/slow/model.onnx":
            time.sleep(0.5)
            self.path = "/model.onnx"
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


def test_corrupt_cache_file_is_replaced_from_the_mirror_with_a_warning(cache, tmp_path, caplog):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "model.onnx").write_bytes(PAYLOAD)
    cache.mkdir(parents=True)
    (cache / "model.onnx").write_bytes(PAYLOAD[:1000])
    with caplog.at_level(logging.WARNING, logger="hub.store"):
        path = store.resolve(spec(None))
    assert path == cache / "model.onnx" and path.read_bytes() == PAYLOAD
    assert "corrupt" in caplog.text and str(cache / "model.onnx") in caplog.text


def test_stalled_download_fails_by_its_deadline_naming_file_and_url(server, cache, monkeypatch):
    monkeypatch.setenv("HUB_DOWNLOAD_TIMEOUT", "1.5")
    start = time.monotonic()
    with pytest.raises(store.DownloadError) as err:
        store.resolve(spec(server + "/stall"))
    assert time.monotonic() - start < 4
    assert "model.onnx" in str(err.value) and server + "/stall" in str(err.value)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_concurrent_fetches_of_one_file_download_it_once(server, cache):
    GETS.clear()
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: store.resolve(spec(server + "/slow/model.onnx")), range(4)))
    assert paths == [cache / "model.onnx"] * 4 and GETS == ["/slow/model.onnx"]


def test_unsafe_model_file_name_is_never_written(server, cache):
    with pytest.raises(names.UnsafeName, match="x.onnx"):
        store.resolve(spec(server + "/model.onnx", name="../../x.onnx"))
    assert not (cache.parent.parent / "x.onnx").exists()
