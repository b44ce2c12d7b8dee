"""Just enough HTTP/1.1 for the buffering front: read a request head and body under limits, write a reply.

Every read here is bounded in size; the caller bounds it in time.
"""
import json
from dataclasses import dataclass, field

MAX_HEAD_BYTES = 64 * 1024
# A worker's reply to the front for a request it skipped because the front had shut its side of the
# connection (the client left): nginx's "client closed request"; never sent to a client.
CLIENT_GONE = 499
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "expect",
              "proxy-connection", "proxy-authenticate", "proxy-authorization", "content-length"}
REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found", 408: "Request Timeout",
           413: "Content Too Large", 415: "Unsupported Media Type", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY")]


class HttpError(Exception):
    """A request refused by the front: HTTP status and a message for the client."""

    def __init__(self, status, message, retry_after=None):
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: list = field(default_factory=list)  # [(name, value)] as received
    body: bytes = b""

    def header(self, name, default=None):
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    @property
    def keep_alive(self):
        connection = (self.header("connection") or "").lower()
        return "close" not in connection if self.version == "HTTP/1.1" else "keep-alive" in connection


def parse_head(data):
    """Request line and headers of a head (bytes up to and without the blank line)."""
    try:
        text = data.decode("latin-1")
        line, *header_lines = text.split("\r\n")
        method, target, version = line.split(" ")
    except ValueError:
        raise HttpError(400, "malformed request line") from None
    if version not in ("HTTP/1.0", "HTTP/1.1") or not method.isalpha() or not target.startswith("/"):
        raise HttpError(400, "malformed request line")
    headers = []
    for raw in header_lines:
        name, sep, value = raw.partition(":")
        if not sep or not name or name != name.strip() or any(c in name for c in " \t"):
            raise HttpError(400, "malformed header line")
        headers.append((name, value.strip()))
    return Request(method.upper(), target, version, headers)


def body_length(request, max_body):
    """Content-Length of the body (0 without one), or None for chunked; refuses what is over max_body."""
    chunked = (request.header("transfer-encoding") or "").lower()
    length = request.header("content-length")
    if chunked:
        if chunked != "chunked" or length is not None:
            raise HttpError(400, "unsupported Transfer-Encoding (only chunked, without Content-Length)")
        return None
    if length is None:
        return 0
    if not length.isdigit():
        raise HttpError(400, f"invalid Content-Length {length!r}")
    if int(length) > max_body:
        raise HttpError(413, f"request body of {int(length)} bytes is over the limit of {max_body} bytes (max_body_mb)")
    return int(length)


async def read_body(reader, length, max_body):
    """The whole body: length bytes, or chunked (length None) decoded while under max_body."""
    if length is not None:
        return await reader.readexactly(length)
    parts, total = [], 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpError(400, "malformed chunked body") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        total += size
        if total > max_body:
            raise HttpError(413, f"chunked request body over the limit of {max_body} bytes (max_body_mb)")
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise HttpError(400, "malformed chunked body")


def encode_request(request, extra_headers):
    """The request for a worker: the body with a Content-Length, the connection closed after it."""
    lines = [f"{request.method} {request.target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in request.headers if k.lower() not in HOP_BY_HOP]
    lines += [f"{k}: {v}" for k, v in extra_headers]
    lines += [f"Content-Length: {len(request.body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + request.body


def parse_response(data):
    """(status, headers without hop-by-hop ones, body) of a worker's whole reply (read until it closed)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("incomplete reply")
    line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(line.split(" ", 2)[1])
    headers, length, chunked = [], None, False
    for raw in header_lines:
        name, _, value = raw.partition(":")
        key = name.strip().lower()
        if key == "content-length":
            length = int(value)
        elif key == "transfer-encoding":
            chunked = "chunked" in value.lower()
        if key not in HOP_BY_HOP:
            headers.append((name.strip(), value.strip()))
    if chunked:
        body = _dechunk(body)
    elif length is not None:
        body = body[:length]
    return status, headers, body


def _dechunk(data):
    parts, i = [], 0
    while True:
        end = data.index(b"\r\n", i)
        size = int(data[i:end].split(b";", 1)[0], 16)
        if size == 0:
            return b"".join(parts)
        parts.append(data[end + 2:end + 2 + size])
        i = end + 4 + size


def encode_response(status, headers, body, keep_alive, head_only=False):
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += [f"Content-Length: {len(body)}", f"Connection: {'keep-alive' if keep_alive else 'close'}", "", ""]
    return "\r\n".join(lines).encode("latin-1") + (b"" if head_only else body)


def error_response(error, keep_alive=False):
    """A refusal in PaddleHub's body format {"status": "101", "msg", "results": ""}."""
    body = json.dumps({"status": "101", "msg": error.message, "results": ""}).encode()
    headers = [("Content-Type", "application/json"), *SECURITY_HEADERS]
    if error.retry_after is not None:
        headers.append(("Retry-After", str(error.retry_after)))
    return encode_response(error.status, headers, body, keep_alive)
