"""The buffering front of `hub serving`: one asyncio process between clients and the sync workers.

gunicorn's sync workers handle one connection each, so a client that sends slowly holds a worker for as
long as it likes. The front reads every request in full first, under a deadline for the head and one for
the body and a size limit, and only then hands it to a worker over a private Unix socket (one request per
connection, so a worker never waits on the network). A slow or hostile client costs a socket and a
coroutine here, never a worker. Admission control (admission.py) decides which complete request gets a
worker next. The front also answers GET /health itself, with its counters, so a health check never waits
behind a busy worker.
"""
import asyncio
import json
import logging
import os
import signal
import time
from collections import Counter

from .admission import Admission, ClientGone, Refused
from .http1 import (CLIENT_GONE, MAX_HEAD_BYTES, SECURITY_HEADERS, HttpError, encode_request, encode_response,
                    error_response, parse_head, parse_response, body_length, read_body)

log = logging.getLogger("hub.serving.front")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Requests handed to the workers' socket per worker: the one computing and one waiting in the socket's
# backlog, so a worker that finishes takes its next request at once instead of waiting for this process to
# be scheduled (on a busy machine that wait left workers idle). The one waiting is still skipped if its client
# leaves before the worker reads it (see forward).
HANDED_PER_WORKER = 2


class ClientReader(asyncio.StreamReader):
    """A StreamReader whose `gone` future completes when the client closes its side."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gone = asyncio.get_running_loop().create_future()

    def feed_eof(self):
        super().feed_eof()
        if not self.gone.done():
            self.gone.set_result(None)


class Front:
    def __init__(self, worker_socket, workers, settings):
        self.worker_socket = worker_socket
        self.settings = settings
        self.max_body = int(float(settings["max_body_mb"]) * 1024 * 1024)
        self.admission = Admission(workers * HANDED_PER_WORKER, int(settings["queue"]), float(settings["queue_timeout"]))
        self.allowed_hosts = allowed_hosts(settings)
        self.counts = Counter()
        self.connections = set()  # writers of open connections
        self.idle = set()  # writers of connections waiting for a next request
        self.in_flight = 0
        self.stopping = False

    # --- one connection -------------------------------------------------------------------------
    async def serve_connection(self, reader, writer):
        if len(self.connections) >= int(self.settings["max_connections"]):
            writer.write(error_response(HttpError(503, "too many open connections; retry later", retry_after=1)))
            writer.close()
            return
        self.connections.add(writer)
        try:
            keep_alive = True
            while keep_alive and not self.stopping:
                keep_alive = await self.serve_request(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        finally:
            self.connections.discard(writer)
            self.idle.discard(writer)
            writer.close()

    async def serve_request(self, reader, writer):
        """Read, admit, forward and answer one request; False when the connection must close."""
        self.idle.add(writer)
        try:
            first = await asyncio.wait_for(reader.readexactly(1), float(self.settings["keepalive_timeout"]))
        finally:
            self.idle.discard(writer)
        self.in_flight += 1
        try:
            request = await self.read_request(reader, writer, first)
            reply = await self.answer(request, reader.gone)
            if reply is None:  # the client left before a worker was free: nothing computed, nothing to say
                return False
            keep_alive = request.keep_alive and not self.stopping
            status, headers, body = reply
            writer.write(encode_response(status, headers, body, keep_alive, head_only=request.method == "HEAD"))
            await asyncio.wait_for(writer.drain(), float(self.settings["body_timeout"]))
            return keep_alive
        except HttpError as e:  # part of the request may still be on the wire: answer, then close
            self.counts[f"refused_{e.status}"] += 1
            writer.write(error_response(e))
            await asyncio.wait_for(writer.drain(), 5)
            return False
        finally:
            self.in_flight -= 1

    async def read_request(self, reader, writer, first):
        try:
            head = first + await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), float(self.settings["header_timeout"]))
        except asyncio.TimeoutError:
            raise HttpError(408, f"request head not received within {self.settings['header_timeout']} s "
                                 "(header_timeout)") from None
        except asyncio.LimitOverrunError:
            raise HttpError(431, f"request head over {MAX_HEAD_BYTES} bytes") from None
        request = parse_head(head[:-4])
        self.check_host(request)
        length = body_length(request, self.max_body)
        if (request.header("expect") or "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            request.body = await asyncio.wait_for(read_body(reader, length, self.max_body),
                                                  float(self.settings["body_timeout"]))
        except asyncio.TimeoutError:
            raise HttpError(408, f"request body not received within {self.settings['body_timeout']} s "
                                 "(body_timeout)") from None
        except asyncio.LimitOverrunError:
            raise HttpError(400, "malformed chunked body") from None
        self.counts["received"] += 1
        return request

    def check_host(self, request):
        if self.allowed_hosts is None:
            return
        host = request.header("host")
        if host is None:
            raise HttpError(400, "missing Host header")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        if name not in self.allowed_hosts:
            raise HttpError(400, f"Host {host!r} is not allowed here (allowed_hosts: {', '.join(self.allowed_hosts)})")

    # --- admission and the worker ---------------------------------------------------------------
    async def answer(self, request, gone):
        path = request.target.split("?", 1)[0]
        if path == "/health" and request.method in ("GET", "HEAD"):
            return self.health()
        key = path[len("/predict/"):] if path.startswith("/predict/") else "other"
        try:
            await self.admission.enter(key, gone)
        except Refused as e:
            raise HttpError(503, e.message, retry_after=e.retry_after) from None
        except ClientGone:
            return None
        try:
            if gone.done():  # left just before its turn came
                self.admission.abandoned()
                return None
            return await self.forward(request, gone)
        finally:
            self.admission.leave()

    async def forward(self, request, gone):
        """The worker's reply, or None when the client left before it (then the worker skips the request
        if it has not begun it: the front shuts its side of the worker's connection, which the worker checks)."""
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_unix_connection(self.worker_socket, limit=MAX_HEAD_BYTES)
        except OSError:
            raise HttpError(503, "no worker is running; retry later", retry_after=1) from None
        self.counts["forwarded"] += 1
        limit = float(self.settings["timeout"]) + 5
        try:
            writer.write(encode_request(request, [("X-Forwarded-For", "front")]))
            reply = asyncio.ensure_future(reader.read())
            await asyncio.wait({reply, gone}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
            if gone.done() and not reply.done():
                writer.write_eof()
            data = await asyncio.wait_for(reply, max(0.0, limit - (time.monotonic() - started)))
        except asyncio.TimeoutError:
            raise HttpError(504, f"no answer from the worker within {self.settings['timeout']} s (timeout)") from None
        except OSError:
            data = b""
        finally:
            writer.close()
        try:
            status, headers, body = parse_response(data)
        except (ValueError, IndexError):
            self.counts["worker_lost"] += 1
            log.warning("a worker ended without answering %s %s after %.1f s", request.method, request.target,
                        time.monotonic() - started)
            raise HttpError(502, "the worker ended without answering (it was restarted); retry") from None
        if status == CLIENT_GONE:
            self.admission.abandoned("skipped_by_worker")
            return None
        self.counts["computed"] += 1
        if gone.done():
            self.admission.abandoned("computed_for_gone_client")
            return None
        return status, headers, body

    def health(self):
        body = json.dumps({"status": "ok", "pid": os.getpid(), "in_flight": self.in_flight,
                           "requests": {**self.counts, **self.admission.counts}}).encode()
        return 200, [("Content-Type", "application/json"), *SECURITY_HEADERS], body

    # --- start and graceful stop ----------------------------------------------------------------
    async def run(self, sock, workers_alive):
        """Serve on sock until SIGTERM / SIGINT (or the workers' master is gone); then stop gracefully:
        no new connections, requests in flight answered (up to graceful_timeout), idle ones closed."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = await loop.create_server(
            lambda: asyncio.StreamReaderProtocol(ClientReader(limit=MAX_HEAD_BYTES), self.serve_connection),
            sock=sock, backlog=1024)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                if not workers_alive():
                    log.error("the workers' master process is gone; stopping")
                    break
        self.stopping = True
        server.close()
        for writer in list(self.idle):
            writer.close()
        deadline = time.monotonic() + float(self.settings["graceful_timeout"])
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for writer in list(self.connections):
            writer.close()
        return self.in_flight


def allowed_hosts(settings):
    """Host names accepted in the Host header: the setting, else the loopback names when bound to
    loopback (a page on a laptop cannot be reached through DNS rebinding), else any (None)."""
    configured = settings.get("allowed_hosts")
    if configured:
        names = configured.split(",") if isinstance(configured, str) else configured
        return tuple(n.strip().lower() for n in names if n.strip())
    if settings["host"] in LOOPBACK_HOSTS:
        return LOOPBACK_HOSTS
    return None
