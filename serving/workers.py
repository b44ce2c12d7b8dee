"""The worker processes of `hub serving`: gunicorn sync workers behind the front, on its private Unix socket.

Run by the launcher as `python -m serving.workers CONFIG.json`; the process (gunicorn's master) and each
worker die with their parent, so a killed server never leaves workers behind.
"""
import ctypes
import json
import logging
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent(sig=signal.SIGTERM):
    """Ask Linux to send sig to this process when its parent exits (a no-op elsewhere)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def main(config_path):
    config = json.loads(Path(config_path).read_text())
    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:  # the front died before the request above took effect
        return 1
    from gunicorn.app.base import BaseApplication

    def post_fork(server, worker):
        die_with_parent()
        if os.getppid() != worker.ppid:
            os._exit(0)

    def worker_exit(server, worker):
        # onnxruntime, imported in this master before the fork, blocks a forked worker's interpreter exit
        # after its atexit handlers, so the master would wait graceful_timeout and then kill it. The worker
        # has finished (gunicorn calls this as it leaves), so it ends here with the code it was leaving with.
        leaving = sys.exc_info()[1]
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(leaving.code if isinstance(leaving, SystemExit) and isinstance(leaving.code, int) else 0)

    class HubWorkers(BaseApplication):
        def load_config(self):
            options = {"bind": f"unix:{config['socket']}", "workers": config["workers"], "worker_class": "sync",
                       "timeout": config["timeout"], "graceful_timeout": 10, "preload_app": False,
                       "errorlog": "-", "loglevel": "info", "accesslog": "-" if config["access_log"] else None,
                       "proc_name": f"hub-serving-{config['port']}-workers", "post_fork": post_fork,
                       "worker_exit": worker_exit}
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1: one shared socket path otherwise
                options["control_socket_disable"] = True
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from .app import create_app
            return create_app(config["modules_info"], use_gpu=config["use_gpu"],
                              max_body_bytes=config["max_body_bytes"], limits=config["limits"])

    HubWorkers().run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
