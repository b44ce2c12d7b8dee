"""`hub serving start | stop`: a buffering front (front.py) before N gunicorn sync workers (workers.py).

start runs in the foreground (as PaddleHub's does; Ctrl-C or `hub serving stop -p PORT` ends it): this
process binds the port and runs the front, and starts the workers' gunicorn master as its child on a
private Unix socket; its pid is written to $HUB_HOME/serving/<port>.pid. The --config file is PaddleHub's
JSON: {"modules_info": {"name": {"init_args": {...}, "predict_args": {...}}}, "port", "workers", "use_gpu",
"host", ...any option below by its name}; options given on the command line win over the file.
"""
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hub_core import images, store
from hub_core.args import Parser, port_number, positive_int
from hub_core.module import available
from hub_core.modes import MODE_HELP, MODES, recipes

DEFAULTS = {"port": 8866, "workers": 1, "use_gpu": False, "host": "127.0.0.1", "max_body_mb": 20.0,
            "timeout": 120, "max_images": 64, "max_request_pixels": 50_000_000, "queue": 16,
            "queue_timeout": 10.0, "header_timeout": 10.0, "body_timeout": 30.0, "keepalive_timeout": 15.0,
            "graceful_timeout": 30.0, "max_connections": 1000, "allowed_hosts": None, "backend": "onnxruntime"}


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
    p.add_argument("--max_images", type=positive_int, default=None, help="images per request (default 64)")
    p.add_argument("--max_request_pixels", type=positive_int, default=None,
                   help="decoded pixels per request, all images together: the memory budget (default 50 M)")
    p.add_argument("--queue", type=positive_int, default=None, help="requests per module waiting for a worker (default 16)")
    p.add_argument("--queue_timeout", type=float, default=None,
                   help="seconds a request may wait for a worker before a 503 (default 10)")
    p.add_argument("--header_timeout", type=float, default=None, help="seconds to receive a request head (default 10)")
    p.add_argument("--body_timeout", type=float, default=None, help="seconds to receive a request body (default 30)")
    p.add_argument("--keepalive_timeout", type=float, default=None, help="seconds an idle connection stays open (15)")
    p.add_argument("--graceful_timeout", type=float, default=None,
                   help="seconds a stop waits for requests in flight (default 30)")
    p.add_argument("--max_connections", type=positive_int, default=None, help="open client connections (default 1000)")
    p.add_argument("--allowed_hosts", default=None,
                   help="comma-separated Host names accepted (default: the loopback names when bound to loopback)")
    p.add_argument("--access_log", action="store_true", help="log every request to stderr")
    p.add_argument("--mode", choices=MODES, default=None, help=MODE_HELP)
    p = sub.add_parser("stop", help="stop the server started on a port")
    p.add_argument("-p", "--port", type=port_number, default=DEFAULTS["port"])
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for a graceful stop")
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
    if getattr(args, "mode", None):  # modules with modes; a module's own init_args mode in the config wins
        for name, info in modules_info.items():
            if recipes(known[name]):
                info.setdefault("init_args", {}).setdefault("mode", args.mode)
    for key in ("workers", "max_images", "max_request_pixels", "queue", "max_connections"):
        if int(settings[key]) < 1:
            raise ValueError(f"--{key} must be at least 1")
    settings["access_log"] = bool(getattr(args, "access_log", False))
    if settings["backend"] != "onnxruntime":  # a module's own init_args may still choose its backend
        for info in modules_info.values():
            info["init_args"] = {"backend": settings["backend"], **(info.get("init_args") or {})}
    return settings, modules_info


def start(args):
    try:
        settings, modules_info = resolve_settings(args)
    except ValueError as e:
        return _fail(str(e))
    host, port = settings["host"], int(settings["port"])
    if settings["use_gpu"] and settings["backend"] == "onnxruntime":
        from hub_core.engine import providers_for
        try:
            providers_for(True)
        except RuntimeError as e:
            return _fail(str(e))
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                    backlog=1024)
    except OSError:
        return _fail(f"{host}:{port} is already in use")
    run_dir = Path(tempfile.mkdtemp(prefix="hub-serving-"))  # private (0700): only this user reaches the workers
    try:
        return _serve(sock, settings, modules_info, run_dir)
    finally:
        sock.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def _serve(sock, settings, modules_info, run_dir):
    from .front import Front
    from .workers import die_with_parent

    port, workers = int(settings["port"]), int(settings["workers"])
    worker_socket = run_dir / "workers.sock"
    config = {"socket": str(worker_socket), "port": port, "workers": workers, "timeout": int(settings["timeout"]),
              "access_log": bool(settings.get("access_log")), "modules_info": modules_info,
              "use_gpu": bool(settings["use_gpu"]), "max_body_bytes": int(float(settings["max_body_mb"]) * 1024 * 1024),
              "limits": {"max_images": int(settings["max_images"]),
                         "max_request_pixels": int(settings["max_request_pixels"])}}
    (run_dir / "workers.json").write_text(json.dumps(config))
    # Cores are split between workers; a session's threads are fixed when the worker builds it. OpenCV's
    # own size limit backs up the header check in hub_core.images.
    env = {**os.environ, "OPENCV_IO_MAX_IMAGE_PIXELS": str(images.max_pixels())}
    env.setdefault("HUB_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    master = subprocess.Popen([sys.executable, "-m", f"{__package__}.workers", str(run_dir / "workers.json")],
                              env=env, preexec_fn=die_with_parent)
    pidfile = pid_file(port)
    try:
        while not worker_socket.exists():
            if master.poll() is not None:
                return _fail(f"the workers exited with {master.returncode} before serving")
            time.sleep(0.05)
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{os.getpid()}\n")
        print(f"hub serving: {', '.join(modules_info)} on http://{settings['host']}:{port} (buffering front) with {workers} "
              f"worker(s), {env['HUB_NUM_THREADS']} ONNX thread(s) each; pid file {pidfile}", file=sys.stderr, flush=True)
        front = Front(str(worker_socket), workers, settings)
        left = asyncio.run(front.run(sock, lambda: master.poll() is None))
        sock.close()
        print(f"hub serving: stopping; {left} request(s) still in flight after {settings['graceful_timeout']} s"
              if left else "hub serving: stopping; every request in flight was answered", file=sys.stderr, flush=True)
        return 0 if master.poll() is None else 1
    finally:
        if master.poll() is None:
            master.send_signal(signal.SIGTERM)  # gunicorn: workers finish, then the master exits
            try:
                master.wait(timeout=20)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()
        if pidfile.is_file() and pidfile.read_text().strip() == str(os.getpid()):
            pidfile.unlink()


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


def _descendants(pid):
    """Pids of pid's children, grandchildren, ... (Linux /proc; empty elsewhere)."""
    parents = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(status.parent.name)] = int(status.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, parent in parents.items() if parent in frontier]
        found += kids
        frontier = kids
    return found


def _listening_inodes(port):
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    return inodes


def serves_port(pid, port):
    """Whether process pid holds the listening socket of port (Linux: /proc/net/tcp and /proc/PID/fd;
    elsewhere its command line must name `serving start`)."""
    if not Path("/proc/net/tcp").exists():
        command = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True).stdout
        return "serving" in command and "start" in command
    wanted = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    try:
        return any(os.readlink(fd) in wanted for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # another user's process, or gone
        return False


def stop(args):
    pidfile = pid_file(args.port)
    if not pidfile.is_file():
        return _fail(f"no server started on port {args.port} (no {pidfile})", 1)
    try:
        pid = int(pidfile.read_text().strip())
    except ValueError:
        pidfile.unlink(missing_ok=True)
        return _fail(f"{pidfile} is corrupt; removed it", 1)
    if not _alive(pid):
        pidfile.unlink(missing_ok=True)
        return _fail(f"the server on port {args.port} (pid {pid}) is not running; removed {pidfile}", 1)
    if not serves_port(pid, args.port):
        pidfile.unlink(missing_ok=True)
        return _fail(f"pid {pid} in {pidfile} is not the server listening on port {args.port}; not signalled, "
                     f"removed the stale pid file", 1)
    family = _descendants(pid)
    os.kill(pid, signal.SIGTERM)  # the front: stop accepting, answer what is in flight, then stop the workers
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline and any(_alive(p) for p in [pid] + family):
        time.sleep(0.1)
    leftover = [p for p in [pid] + family if _alive(p)]
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
    print(f"hub serving: stopped the server on port {args.port} (pid {pid} and {len(family)} worker process(es)){note}")
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
