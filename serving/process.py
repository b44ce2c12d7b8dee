"""Run `hub serving start` as a child process and wait until it is ready (tests, benchmarks, scripts)."""
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_command():
    exe = shutil.which("hub")
    return [exe] if exe else [sys.executable, "-m", "hub_core.cli"]


class ServerProcess:
    """`hub serving start ARGS -p PORT` in the background; stop() runs `hub serving stop -p PORT`."""

    def __init__(self, args, port=None, env=None, log_path=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.command = hub_command() + ["serving", "start", *args, "-p", str(self.port)]
        self.proc = None

    def start(self, timeout=120):
        log = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        self.kill()
        raise TimeoutError(f"server not ready after {timeout} s: {self.log_tail()}")

    def log_tail(self, chars=3000):
        if self.log_path and os.path.exists(self.log_path):
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-chars:]
        return ""

    def stop(self):
        """`hub serving stop -p PORT`; returns its CompletedProcess."""
        done = subprocess.run(hub_command() + ["serving", "stop", "-p", str(self.port)], env=self.env,
                              capture_output=True, text=True, timeout=60)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        return done

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        self.kill()
