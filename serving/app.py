"""The serving Flask app: PaddleHub-compatible POST /predict/<module>, plus health, models, OpenAPI and a page.

Responses keep PaddleHub's body {"status", "msg", "results"} and its codes ("000" ok, "101" module or
input error, "111" module not served, "112" wrong content type) and also use real HTTP statuses.

Only these request parameters reach a module (anything else is a 400 naming it):
  every module        batch_size (int 1..64), visualization (bool: each entry gets "visualization", the
                      annotated image as base64 JPEG; nothing is written on the server), strict (bool: the
                      first bad image fails the whole request with 400 instead of only its own entry)
  face_detection      confs_threshold, iou_threshold (float 0..1), PaddleHub's names
  other detectors     the detector's own thresholds (score_threshold, iou_threshold; float 0..1) and options
                      (e.g. yolox_nano_coco's classes: a list of class names), as its parameters() declare them
"""
import json
import logging
import os
import socket
from pathlib import Path

import numpy as np
from flask import Flask, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from hub_core import draw, images as imio
from hub_core.batching import Item
from hub_core.module import Module

from .http1 import CLIENT_GONE

STATIC = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
log = logging.getLogger("hub.serving")


class RequestError(Exception):
    """A request the server refuses: HTTP status, PaddleHub body code, message for the client."""

    def __init__(self, http_status, message, code="101", results=""):
        super().__init__(message)
        self.http_status, self.code, self.message, self.results = http_status, code, message, results


# --- parameters a client may set: one description (JSON schemas) checks requests and is /openapi.json's --------
COMMON_PARAMETERS = {
    "batch_size": {"type": "integer", "minimum": 1, "maximum": 64},
    "visualization": {"type": "boolean", "description": "add the annotated image as base64 JPEG"},
    "strict": {"type": "boolean", "description": "fail the whole request on the first bad image"},
}
_JSON_TYPES = {"integer": int, "number": (int, float), "boolean": bool, "string": str, "array": list}


def allowed_parameters(module):
    """{name: JSON schema} of the keyword arguments a client may pass to this module."""
    own = module.parameters() if callable(getattr(module, "parameters", None)) else {}
    return {**COMMON_PARAMETERS, **own}


def check(name, schema, value):
    """value if it is of the schema's type and within its range / enum; else a 400 naming the parameter."""
    kind = schema["type"]
    ok = isinstance(value, _JSON_TYPES[kind]) and (kind == "boolean" or not isinstance(value, bool))
    if ok and kind in ("integer", "number"):
        ok = schema.get("minimum", value) <= value <= schema.get("maximum", value)
    if ok and "enum" in schema:
        ok = value in schema["enum"]
    if ok and kind == "array":
        return [check(f"{name}[{i}]", schema["items"], v) for i, v in enumerate(value)]
    if not ok:
        raise RequestError(400, f"{name} must be {describe(schema)}, got {value!r}")
    return float(value) if kind == "number" else value


def describe(schema):
    kind = schema["type"]
    if kind == "array":
        return f"a list of {describe(schema['items'])}s"
    if "enum" in schema:
        shown = ", ".join(map(repr, schema["enum"][:8])) + (", ..." if len(schema["enum"]) > 8 else "")
        return f"a {kind} among {shown}"
    if "minimum" in schema:
        return f"{'an integer' if kind == 'integer' else 'a number'} from {schema['minimum']} to {schema['maximum']}"
    return {"boolean": "true or false"}.get(kind, f"a {kind}")


def _from_form_text(schema, text):
    """Form fields arrive as text: turn them into the JSON type the schema expects."""
    lowered = text.strip().lower()
    kind = schema["type"]
    if kind == "boolean":
        return {"true": True, "1": True, "false": False, "0": False}.get(lowered, text)
    if kind == "array":
        return [v.strip() for v in text.split(",") if v.strip()]
    if kind in ("integer", "number"):
        try:
            return int(lowered) if kind == "integer" else float(lowered)
        except ValueError:
            return text
    return text


def checked_kwargs(module, params, from_form=False):
    allowed = allowed_parameters(module)
    kwargs = {}
    for name, value in params.items():
        if name not in allowed:
            raise RequestError(400, f"parameter {name!r} is not accepted; allowed: images, {', '.join(sorted(allowed))}")
        schema = allowed[name]
        kwargs[name] = check(name, schema, _from_form_text(schema, value) if from_form else value)
    return kwargs


# --- served modules -----------------------------------------------------------------------------
class Served:
    """One loaded module with its server-side predict_args (from the --config file)."""

    def __init__(self, name, init_args=None, predict_args=None, use_gpu=False):
        self.name = name
        self.module = Module(name=name, **(init_args or {}))
        self.predict_args = dict(predict_args or {})
        self.default_visualization = bool(self.predict_args.pop("visualization", False))
        self.predict_args.pop("output_dir", None)
        self.use_gpu = use_gpu

    def warm_up(self):
        """One prediction on a synthetic image so sessions exist before the first request; keypoint
        modules also run their keypoint network on a given box, as the picture has no real instance."""
        rng = np.random.default_rng(0)
        image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
        self.predict([image])
        if self.module.type == "keypoint_detection":
            self.predict([image], boxes=[[[100, 60, 220, 180]]])

    def predict(self, images, **kwargs):
        return self.module.predict(images=images, use_gpu=self.use_gpu, **{**self.predict_args, **kwargs})

    def describe(self):
        module = self.module
        meta = getattr(module, "meta", None) or {}
        info = {"name": self.name, "version": module.version, "type": module.type, "summary": module.summary,
                "parameters": allowed_parameters(module)}
        if meta:
            info.update(num_keypoints=meta.get("num_keypoints"), keypoints=meta.get("keypoints"),
                        skeleton=meta.get("skeleton"), keypoint_colors=meta.get("keypoint_colors"),
                        link_colors=meta.get("link_colors"), colour_order="BGR")
        if hasattr(module, "labels"):
            info["labels"] = list(module.labels)
        return info


def visualise(served, image, entry):
    """The entry drawn on its image, as base64 JPEG. Detector entries (box dicts) are drawn as boxes."""
    view = entry
    if "instances" not in entry:
        view = {"instances": [{"box": [d["left"], d["top"], d["right"], d["bottom"]], "box_score": d.get("confidence")}
                              for d in entry.get("data", []) if isinstance(d, dict) and "left" in d]}
    return imio.to_base64_jpg(draw.draw(image, view, getattr(served.module, "meta", None)))


# --- request parsing ----------------------------------------------------------------------------
def _too_large(error):
    return isinstance(error, imio.ImageTooLarge)


def read_request():
    """(list of (name, read_fn giving the encoded bytes), params dict, from_form) from a JSON or multipart request."""
    mimetype = request.mimetype
    if mimetype == "application/json":
        body = json_body()
        if not isinstance(body, dict):
            raise RequestError(400, "request body must be a JSON object with an 'images' list")
        params = dict(body)
        images = params.pop("images", None)
        if images is None:
            raise RequestError(400, "missing 'images': a list of base64-encoded images")
        if not isinstance(images, list):
            raise RequestError(400, "'images' must be a list of base64-encoded images")
        sources = [(f"images[{i}]", lambda t=text, n=f"images[{i}]": imio.base64_bytes(t, n))
                   for i, text in enumerate(images)]
        return sources, params, False
    if mimetype == "multipart/form-data":
        files = list(request.files.items(multi=True))
        if not files:
            raise RequestError(400, "missing 'images': no image file in the multipart form")
        sources = []
        for i, (field, upload) in enumerate(files):
            name = f"{field}[{i}] {upload.filename!r}" if upload.filename else f"{field}[{i}]"
            sources.append((name, lambda u=upload: u.read()))
        return sources, request.form.to_dict(), True
    raise RequestError(415, f"unsupported content type {mimetype or 'none'!r}: send application/json or "
                            "multipart/form-data", code="112")


def predict_route(served_modules, name, limits):
    served = served_modules.get(name)
    if served is None:
        raise RequestError(404, f"module {name!r} is not served here; served: {', '.join(served_modules)}",
                           code="111")
    sources, params, from_form = read_request()
    if not sources:
        raise RequestError(400, "'images' is empty")
    kwargs = checked_kwargs(served.module, params, from_form)
    if front_has_left():
        raise RequestError(CLIENT_GONE, "the client left before its request was computed")
    strict = kwargs.get("strict", False)
    visualization = kwargs.pop("visualization", served.default_visualization)

    items = decode_within_limits(sources, limits, strict)
    try:
        results = served.predict(items, **kwargs)
    except imio.ImageError as e:
        raise RequestError(400, str(e)) from None
    for item, entry in zip(items, results):
        if visualization and not entry.get("error"):
            entry["visualization"] = visualise(served, item.source, entry)
    refuse_if_all_failed(results)
    return results


# --- limits and refusals (issue 15) ------------------------------------------------------------
DEFAULT_LIMITS = {"max_images": 64, "max_request_pixels": 50_000_000}
PAGE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def front_has_left():
    """True when the front has shut its side of this connection (its client left), checked once the whole
    request is read, so nothing is decoded or computed for nobody. Never true outside gunicorn."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def json_body():
    """The request's JSON; malformed JSON of any depth is a 400, never a RecursionError."""
    try:
        return json.loads(request.get_data(cache=False))
    except (ValueError, RecursionError):
        raise RequestError(400, "request body is not valid JSON") from None


def decode_within_limits(sources, limits, strict):
    """One Item per source, in order: decoded images, or the error that refused them (a failed item).
    Sizes are read from the headers and checked against the per-image and per-request pixel limits
    before any image is decoded."""
    if len(sources) > limits["max_images"]:
        raise RequestError(413, f"{len(sources)} images in one request is over the limit of "
                                f"{limits['max_images']} (max_images)")
    items, readable, total = [None] * len(sources), [], 0

    def refuse(i, label, error):
        if _too_large(error):
            raise RequestError(413, str(error)) from None
        if strict:
            raise RequestError(400, str(error)) from None
        items[i] = Item(label, error)

    for i, (label, read) in enumerate(sources):
        try:
            data = read()
            width, height = imio.encoded_size(data, label)
            imio.check_pixels((width, height), label)
        except imio.ImageError as e:
            refuse(i, label, e)
            continue
        total += width * height
        if total > limits["max_request_pixels"]:
            raise RequestError(413, f"the images of this request add up to over {limits['max_request_pixels']} "
                                    f"pixels (max_request_pixels), {label} included")
        readable.append((i, label, data, (width, height)))
    for i, label, data, size in readable:
        try:
            items[i] = Item(label, imio.decode(data, label, size))
        except imio.ImageError as e:
            refuse(i, label, e)
    return items


def refuse_if_all_failed(results):
    """Every image failed: a 400 whose results carry the per-image errors (some failed: 200, as usual)."""
    if results and all(entry.get("error") for entry in results):
        errors = "; ".join(entry["error"] for entry in results[:3]) + ("; ..." if len(results) > 3 else "")
        raise RequestError(400, f"all {len(results)} images failed: {errors}", results=results)


def security_headers(response):
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    if response.mimetype == "text/html":
        response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


def create_app(modules_info, use_gpu=False, max_body_bytes=DEFAULT_MAX_BODY_BYTES, warm_up=True, limits=None):
    """modules_info: {name: {"init_args": {...}, "predict_args": {...}}}. Loads (and warms up) every
    module here, so under gunicorn each worker loads its own sessions before it accepts a request.
    limits: {"max_images", "max_request_pixels"} (defaults in DEFAULT_LIMITS)."""
    limits = {**DEFAULT_LIMITS, **(limits or {})}
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.json.sort_keys = False
    served = {}
    state = {"ready": False}

    for name, info in modules_info.items():
        info = info or {}
        served[name] = Served(name, info.get("init_args"), info.get("predict_args"), use_gpu)
        if warm_up:
            served[name].warm_up()
    state["ready"] = True
    app.extensions["hub_served"] = served

    def reply(http_status, code, msg, results=""):
        return jsonify({"status": code, "msg": msg, "results": results}), http_status

    @app.errorhandler(RequestError)
    def request_error(e):
        return reply(e.http_status, e.code, e.message, e.results)

    @app.errorhandler(HTTPException)
    def http_error(e):
        if e.code == 413:
            return reply(413, "101", f"request body over the limit of {max_body_bytes} bytes")
        return reply(e.code, "111" if e.code == 404 else "101", e.description or e.name)

    @app.errorhandler(Exception)
    def unexpected(e):
        app.logger.exception("unexpected error on %s %s", request.method, request.path)
        return reply(500, "101", "internal server error; the server log has the details")

    app.after_request(security_headers)

    @app.post("/predict/<name>")
    def predict(name):
        return reply(200, "000", "", predict_route(served, name, limits))

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "pid": os.getpid()})

    @app.get("/ready")
    def ready():
        if not state["ready"]:
            return jsonify({"ready": False, "modules": list(served)}), 503
        return jsonify({"ready": True, "modules": list(served)})

    @app.get("/models")
    def models():
        return jsonify({"modules": [s.describe() for s in served.values()]})

    @app.get("/openapi.json")
    def openapi():
        return jsonify(openapi_document(served))

    @app.get("/")
    def index():
        return send_from_directory(STATIC, "index.html")

    return app


def openapi_document(served):
    """OpenAPI 3 document: /predict/{module} with the common parameters, and each served module's own path with
    exactly the parameters it accepts (the schemas requests are checked against)."""
    envelope = {"type": "object", "properties": {
        "status": {"type": "string", "description": "000 ok, 101 input or module error, 111 module not "
                                                    "served, 112 wrong content type"},
        "msg": {"type": "string"}, "results": {}}}
    error = {"description": "", "content": {"application/json": {"schema": envelope}}}
    simple = lambda text: {"200": {"description": text, "content": {"application/json": {"schema": {"type": "object"}}}}}

    def predict_operation(summary, parameters, path_parameters=()):
        return {"post": {
            "summary": summary, "parameters": list(path_parameters),
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": {"type": "object", "required": ["images"], "properties": {
                    "images": {"type": "array", "items": {"type": "string", "format": "byte"},
                               "description": "base64 JPEG/PNG/... (a data: URL prefix is accepted)"},
                    **parameters}, "additionalProperties": False}},
                "multipart/form-data": {"schema": {"type": "object", "properties": {
                    "images": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    **parameters}}}}},
            "responses": {
                "200": {"description": "status 000; an image that failed has an entry with 'error' "
                                       "(unless strict)", "content": {"application/json": {"schema": envelope}}},
                "400": {**error, "description": "bad JSON (any depth), missing or empty images, corrupt base64, "
                                                "not an image (strict), every image bad (results has the "
                                                "per-image errors), unknown or mistyped parameter, a Host not "
                                                "allowed"},
                "404": {**error, "description": "module not served (status 111)"},
                "408": {**error, "description": "request head or body not received within header_timeout / "
                                                "body_timeout; the connection is closed"},
                "413": {**error, "description": "body over max_body_mb (declared or chunked), more than "
                                                "max_images images, images over max_request_pixels together, "
                                                "or an image over HUB_MAX_IMAGE_PIXELS; the message names the "
                                                "limit"},
                "415": {**error, "description": "not JSON or multipart (status 112)"},
                "431": {**error, "description": "request head over 64 KiB"},
                "500": {**error, "description": "unexpected server error (logged on the server)"},
                "502": {**error, "description": "the worker died while computing the request (it is "
                                                "replaced); retry"},
                "503": {**error, "headers": {"Retry-After": {
                            "description": "seconds to wait before retrying", "schema": {"type": "integer"}}},
                        "description": "busy: the module's queue is full, or no worker was free within "
                                       "queue_timeout; answered at once, nothing computed"},
                "504": {**error, "description": "no answer from the worker within timeout"}}}}

    module_parameter = {"name": "module", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": list(served)}}
    paths = {"/predict/{module}": predict_operation("Run a served module on images; one result per image, in order "
                                                    "(each module's own parameters: its /predict/<name> path)",
                                                    COMMON_PARAMETERS, [module_parameter])}
    for name, s in served.items():
        paths[f"/predict/{name}"] = predict_operation(f"{name}: {s.module.summary}", allowed_parameters(s.module))
    return {
        "openapi": "3.0.3",
        "info": {"title": "keypoint-hub serving", "version": "1.0",
                 "description": "PaddleHub-compatible module serving. Modules here: " + ", ".join(served)},
        "paths": {
            **paths,
            "/health": {"get": {"summary": "liveness, answered by the front with its request counters",
                                "responses": simple("the server answers")}},
            "/ready": {"get": {"summary": "readiness", "responses": {
                **simple("every module is loaded and warmed up"), "503": {"description": "still loading"}}}},
            "/models": {"get": {"summary": "served modules: name, version, type, keypoints, skeleton, parameters",
                                "responses": simple("the served modules")}},
            "/openapi.json": {"get": {"summary": "this document", "responses": simple("OpenAPI 3 document")}},
            "/": {"get": {"summary": "a page to try a module in the browser",
                          "responses": {"200": {"description": "HTML page"}}}},
        },
    }
