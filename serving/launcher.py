"""`hub serving start | stop`: gunicorn with N worker processes, each loading its own modules.

start runs in the foreground (as PaddleHub's does; Ctrl-C or `hub serving stop -p PORT` ends it) and
writes the master's pid to $HUB_HOME/serving/<port>.pid. The --config file is PaddleHub's JSON:
{"modules_info": {"name": {"init_args": {...}, "predict_args": {...}}}, "port", "workers", "use_gpu",
"host", "max_body_mb"}; options given on the command line win over the file.
"""
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path

from hub_core import store
from hub_core.args import Parser, port_number, positive_int
from hub_core.module import available

DEFAULTS = {"port": 8866, "workers": 1, "use_gpu": False, "host": "127.0.0.1", "max_body_mb": 20.0,
            "timeout": 120, "backend": "onnxruntime"}


def pid_file(port):
    return store.hub_home() / "serving" / f"{port}.pid"


def _fail(message, code=2):
    print(f"hub serving: {message}", file=sys.stderr)
    return code


def port_is_free(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def build_parser():
    parser = Parser(prog="hub serving", description="serve modules over HTTP (gunicorn)")
    sub = parser.add_subparsers(dest="action", metavar="start|stop")
    p = sub.add_parser("start", help="serve modules in the foreground")
    p.add_argument("-m", "--modules", nargs="+", default=None, metavar="MODULE")
    p.add_argument("-p", "--port", type=port_number, default=None, help=f"default {DEFAULTS['port']}")
    p.add_argument("--workers", type=positive_int, default=None, help="worker processes, each with its own models (default 1)")
    p.add_argument("--use_gpu", action="store_true", default=None)
    p.add_argument("--backend", choices=["onnxruntime", "paddle"], default=None,
                   help="runtime of every served module (default onnxruntime; paddle: Paddle Inference)")
    p.add_argument("--config", default=None, help="PaddleHub-style JSON config")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1, loopback only)")
    p.add_argument("--max_body_mb", type=float, default=None, help="request body limit in MB (default 20)")
    p.add_argument("--timeout", type=int, default=None, help="seconds before a stuck worker is restarted")
    p.add_argument("--access_log", action="store_true", help="log every request to stderr")
    p = sub.add_parser("stop", help="stop the server started on a port")
    p.add_argument("-p", "--port", type=port_number, default=DEFAULTS["port"])
    p.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a graceful stop")
    return parser


def resolve_settings(args):
    """Defaults < config file < command line. Returns (settings, modules_info)."""
    config = {}
    if args.config:
        try:
            config = json.loads(Path(args.config).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"--config {args.config}: {e}") from None
        if not isinstance(config, dict):
            raise ValueError(f"--config {args.config}: expected a JSON object")
    settings = {k: config.get(k, v) for k, v in DEFAULTS.items()}
    for key in DEFAULTS:
        if getattr(args, key, None) is not None:
            settings[key] = getattr(args, key)
    modules_info = {name: {} for name in args.modules or []}
    for name, info in (config.get("modules_info") or {}).items():
        modules_info.setdefault(name, {}).update(info or {})
    if not modules_info:
        raise ValueError("no module to serve: give -m MODULE [MODULE ...] or a --config with modules_info")
    known = available()
    unknown = [m for m in modules_info if m not in known]
    if unknown:
        raise ValueError(f"unknown module(s) {', '.join(unknown)}; available: {', '.join(known) or 'none'}")
    if int(settings["workers"]) < 1:
        raise ValueError("--workers must be at least 1")
    for info in modules_info.values():  # a module's own init_args may still choose its backend
        info["init_args"] = {"backend": settings["backend"], **(info.get("init_args") or {})}
    return settings, modules_info


def start(args):
    try:
        settings, modules_info = resolve_settings(args)
    except ValueError as e:
        return _fail(str(e))
    host, port, workers = settings["host"], int(settings["port"]), int(settings["workers"])
    if settings["use_gpu"] and settings["backend"] == "onnxruntime":
        from hub_core.engine import providers_for
        try:
            providers_for(True)
        except RuntimeError as e:
            return _fail(str(e))
    if not port_is_free(host, port):
        return _fail(f"{host}:{port} is already in use")

    # Cores are split between workers; a session's threads are fixed when the worker builds it.
    os.environ.setdefault("HUB_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    pidfile = pid_file(port)
    pidfile.parent.mkdir(parents=True, exist_ok=True)

    from gunicorn.app.base import BaseApplication

    class HubServer(BaseApplication):
        def load_config(self):
            options = {"bind": f"{host}:{port}", "workers": workers, "worker_class": "sync",
                       "timeout": int(settings["timeout"]), "graceful_timeout": 10, "pidfile": str(pidfile),
                       "preload_app": False,  # each worker builds its own ONNX sessions after the fork
                       "errorlog": "-", "loglevel": "info", "accesslog": "-" if args.access_log else None,
                       "proc_name": f"hub-serving-{port}"}
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1: one shared socket path otherwise
                options["control_socket_disable"] = True
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from hub_core.serving.app import create_app
            return create_app(modules_info, use_gpu=bool(settings["use_gpu"]),
                              max_body_bytes=int(float(settings["max_body_mb"]) * 1024 * 1024))

    print(f"hub serving: {', '.join(modules_info)} on http://{host}:{port} with {workers} worker(s), "
          f"{os.environ['HUB_NUM_THREADS']} ONNX thread(s) each; pid file {pidfile}", file=sys.stderr, flush=True)
    HubServer().run()  # the arbiter exits the process when it stops
    return 0


def _alive(pid):
    """True while pid runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return not Path("/proc").is_dir()


def _children(pid):
    """Worker pids of the gunicorn master (Linux /proc; empty elsewhere)."""
    kids = []
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(status.parent.name))
    return kids


def _is_our_server(pid):
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return True  # no /proc to check against
    text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return "serving" in text or "gunicorn" in text


def stop(args):
    pidfile = pid_file(args.port)
    if not pidfile.is_file():
        return _fail(f"no server started on port {args.port} (no {pidfile})", 1)
    try:
        pid = int(pidfile.read_text().strip())
    except ValueError:
        pidfile.unlink(missing_ok=True)
        return _fail(f"{pidfile} is corrupt; removed it", 1)
    if not _alive(pid) or not _is_our_server(pid):
        pidfile.unlink(missing_ok=True)
        return _fail(f"the server on port {args.port} (pid {pid}) is not running; removed {pidfile}", 1)
    workers = _children(pid)
    os.kill(pid, signal.SIGTERM)  # gunicorn: graceful stop of the workers, then the master exits
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline and (_alive(pid) or any(_alive(w) for w in workers)):
        time.sleep(0.1)
    leftover = [p for p in [pid] + workers if _alive(p)]
    for p in leftover:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pidfile.unlink(missing_ok=True)
    for _ in range(50):
        if port_is_free("0.0.0.0", args.port):
            break
        time.sleep(0.1)
    else:
        return _fail(f"stopped pid {pid}, but port {args.port} is still in use", 1)
    note = f" (killed {len(leftover)} that ignored SIGTERM)" if leftover else ""
    print(f"hub serving: stopped the server on port {args.port} (pid {pid}, {len(workers)} worker(s)){note}")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.action == "start":
        return start(args)
    if args.action == "stop":
        return stop(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
