"""Soak test of `hub serving` under hostile load, on 127.0.0.1 only, every loop bounded in count and time.

Scenarios (each on a server started here, `-m MODULE --workers W`), written as one JSON report:
  load       C clients x N requests of one real photo: req/s, p50/p95/p99, errors. With --baseline the
             same load runs against a second server in alternating rounds, and the report has their
             throughput ratio: `--baseline gunicorn` is today's app under plain gunicorn (the same workers,
             no front: what the front costs), `--baseline PATH` the `hub serving` of another checkout.
  slow       S slow-body + S slowloris connections (1 byte/s, reconnecting when closed) held for T s while
             one normal client sends requests: its p99 against its unloaded p99, errors.
  burst      64 clients with a 1 s timeout for 15 s: answers, 503s, timeouts; the server's count of
             computed requests against the 200s answered to clients still waiting; a fresh request after.
  sigterm    `hub serving stop` under 16-client load: requests in flight at the signal, how many completed.
  sigkill    one worker SIGKILLed under 16-client load: requests lost.

    python benchmarks/serving_soak.py --baseline gunicorn
"""
import argparse
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hub_core.images import max_pixels  # noqa: E402
from hub_core.serving.launcher import _descendants  # noqa: E402
from hub_core.serving.process import ServerProcess  # noqa: E402
from hub_core.versions import library_versions  # noqa: E402

IMAGE = REPO.parent / "shared" / "data" / "images" / "linzaer_13.jpg"


def percentiles(seconds):
    ms = np.array(seconds) * 1000 if len(seconds) else np.array([np.nan])
    return {"p50": round(float(np.percentile(ms, 50)), 1), "p95": round(float(np.percentile(ms, 95)), 1),
            "p99": round(float(np.percentile(ms, 99)), 1), "max": round(float(ms.max()), 1)}


class Outcomes:
    """Per request: (start, end, kind) with kind ok / http_<status> / timeout / error_<exception class>."""

    def __init__(self):
        self.rows, self.lock = [], threading.Lock()

    def add(self, start, end, kind):
        with self.lock:
            self.rows.append((start, end, kind))

    def count(self, kind):
        return sum(1 for r in self.rows if r[2] == kind)

    def failures(self):
        return dict(Counter(kind for _, _, kind in self.rows if kind != "ok"))

    def latencies(self, kind="ok"):
        return [end - start for start, end, k in self.rows if k == kind]


def one_request(session, url, payload, timeout, outcomes):
    start = time.monotonic()
    try:
        reply = session.post(url, json=payload, timeout=timeout)
        kind = "ok" if reply.status_code == 200 and reply.json()["status"] == "000" else f"http_{reply.status_code}"
    except requests.Timeout:
        kind = "timeout"
    except (requests.RequestException, ValueError) as e:
        kind = f"error_{type(e).__name__}"
    outcomes.add(start, time.monotonic(), kind)
    return kind


def clients(url, payload, count, per_client=None, until=None, timeout=120, outcomes=None):
    """count client threads, each sending per_client requests or until a monotonic time."""
    outcomes = outcomes or Outcomes()

    def run():
        session = requests.Session()
        sent = 0
        while (per_client is None or sent < per_client) and (until is None or time.monotonic() < until):
            one_request(session, url, payload, timeout, outcomes)
            sent += 1
    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    return threads, outcomes


def join(threads):
    for t in threads:
        t.join()


def server_stats(server):
    return requests.get(server.url + "/health", timeout=10).json().get("requests", {})


def start_server(args, tmp, name, repo=None, extra=()):
    env = {"HUB_HOME": str(tmp / name), "HUB_MODEL_MIRRORS": str(REPO.parent / "shared" / "models")}
    server = ServerProcess(["-m", args.module, "--workers", str(args.workers), *extra], env=env,
                           log_path=tmp / f"{name}.log")
    if repo == "gunicorn":  # today's app, its workers bound to the port: the threads and limits `hub serving` uses
        server.env.update(HUB_NUM_THREADS=str(max(1, (os.cpu_count() or 1) // args.workers)),
                          OPENCV_IO_MAX_IMAGE_PIXELS=str(max_pixels()))
        server.command = [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--worker-class", "sync",
                          "--bind", f"127.0.0.1:{server.port}", "--timeout", "120",
                          f"hub_core.serving.app:create_app({{'{args.module}': {{}}}})"]
    elif repo:  # the same CLI from another checkout; -P: not the current folder first on sys.path
        server.env["PYTHONPATH"] = str(repo)
        server.command = [sys.executable, "-P", "-m", "hub_core.cli"] + server.command[server.command.index("serving"):]
    return server.start(timeout=300)


def stop_server(server):
    """`hub serving stop`, or SIGTERM for plain gunicorn (it has no pid file of ours)."""
    if server.command[server.command.index("-m") + 1] == "gunicorn":
        server.proc.send_signal(signal.SIGTERM)
        try:
            server.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    else:
        server.stop()
    server.kill()


# --- scenarios ----------------------------------------------------------------------------------
def load(args, tmp, payload):
    servers = {"front": start_server(args, tmp, "front")}
    if args.baseline:
        servers["baseline"] = start_server(args, tmp, "baseline", repo=args.baseline)
    try:
        results = {name: Outcomes() for name in servers}
        walls = {name: 0.0 for name in servers}
        per_round = args.requests // args.rounds
        for r in range(args.rounds):  # alternate A B B A ..., so the machine's slow spells fall on both
            for name, server in list(servers.items())[::(-1) ** r]:
                start = time.monotonic()
                threads, _ = clients(f"{server.url}/predict/{args.module}", payload, args.clients,
                                     per_client=per_round, outcomes=results[name])
                join(threads)
                walls[name] += time.monotonic() - start
        report = {"baseline_server": args.baseline, "code": {name: "front" if "buffering front" in server.log_tail(100_000) else "gunicorn alone"
                           for name, server in servers.items()}}
        for name, outcomes in results.items():
            ok = outcomes.count("ok")
            report[name] = {"requests": len(outcomes.rows), "ok": ok, "errors": len(outcomes.rows) - ok,
                            "req_per_s": round(ok / walls[name], 2), "latency_ms": percentiles(outcomes.latencies())}
        if "baseline" in report:
            report["front_vs_baseline_req_per_s"] = round(report["front"]["req_per_s"] / report["baseline"]["req_per_s"], 3)
        return report
    finally:
        for server in servers.values():
            stop_server(server)


def attacker(port, module, until, slow_body, closed):
    """One hostile connection at a time until `until`: 1 byte/s of body or of headers; reconnects when closed."""
    head = f"POST /predict/{module} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    while time.monotonic() < until:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall((head + "Content-Length: 1000000\r\n\r\n" if slow_body else head).encode())
                while time.monotonic() < until:
                    s.sendall(b"A" if slow_body else b"X")
                    time.sleep(1)
        except OSError:
            closed.append(1)
            time.sleep(0.2)


def slow(args, tmp, payload):
    server = start_server(args, tmp, "slow")
    try:
        url = f"{server.url}/predict/{args.module}"
        quiet = Outcomes()  # the same client alone first
        join(clients(url, payload, 1, until=time.monotonic() + args.slow_seconds / 2, timeout=30, outcomes=quiet)[0])
        until = time.monotonic() + args.slow_seconds
        closed = []
        attackers = [threading.Thread(target=attacker, args=(server.port, args.module, until, kind == "body", closed))
                     for kind in ["body"] * args.slow_clients + ["loris"] * args.slow_clients]
        for t in attackers:
            t.start()
        time.sleep(1)
        loaded = Outcomes()
        threads, _ = clients(url, payload, 1, until=until - 0.5, timeout=30, outcomes=loaded)
        join(threads + attackers)
        unloaded_p99, loaded_p99 = percentiles(quiet.latencies())["p99"], percentiles(loaded.latencies())["p99"]
        return {"slow_body_connections": args.slow_clients, "slowloris_connections": args.slow_clients,
                "held_s": args.slow_seconds, "attacker_connections_closed_by_server": len(closed),
                "unloaded": {"requests": len(quiet.rows), "errors": len(quiet.rows) - quiet.count("ok"),
                             "latency_ms": percentiles(quiet.latencies())},
                "under_attack": {"requests": len(loaded.rows), "errors": len(loaded.rows) - loaded.count("ok"),
                                 "error_kinds": loaded.failures(), "latency_ms": percentiles(loaded.latencies())},
                "p99_ratio": round(loaded_p99 / unloaded_p99, 2)}
    finally:
        stop_server(server)


def burst(args, tmp, payload):
    server = start_server(args, tmp, "burst")
    try:
        url = f"{server.url}/predict/{args.module}"
        before = server_stats(server)
        threads, outcomes = clients(url, payload, 64, until=time.monotonic() + args.burst_seconds, timeout=1)
        join(threads)
        time.sleep(1)  # requests a worker had already taken finish
        after = server_stats(server)
        start = time.monotonic()
        fresh = requests.post(url, json=payload, timeout=30)
        fresh_s = time.monotonic() - start
        computed = after.get("computed", 0) - before.get("computed", 0)
        ok = outcomes.count("ok")
        return {"clients": 64, "client_timeout_s": 1, "seconds": args.burst_seconds, "requests": len(outcomes.rows),
                "answered_ok": outcomes.count("ok"), "answered_503": outcomes.count("http_503"),
                "client_timeouts": outcomes.count("timeout"), "other": len(outcomes.rows) - outcomes.count("ok")
                - outcomes.count("http_503") - outcomes.count("timeout"),
                "server_computed": computed, "computed_minus_answered": computed - ok,
                "computed_per_answered_ok": round(computed / ok, 3) if ok else None,
                "server_counts": {k: after.get(k, 0) - before.get(k, 0) for k in after},
                "fresh_request_after_burst_s": round(fresh_s, 3), "fresh_request_status": fresh.status_code}
    finally:
        stop_server(server)


def in_flight_at(outcomes, moment):
    return [r for r in outcomes.rows if r[0] < moment < r[1]]


def sigterm(args, tmp, payload):
    server = start_server(args, tmp, "sigterm")
    url = f"{server.url}/predict/{args.module}"
    threads, outcomes = clients(url, payload, 16, until=time.monotonic() + args.kill_after + 5, timeout=60)
    time.sleep(args.kill_after)
    moment = time.monotonic()
    done = server.stop()
    join(threads)
    flying = in_flight_at(outcomes, moment)
    return {"clients": 16, "stop_exit_code": done.returncode, "stop_s": round(time.monotonic() - moment, 2),
            "in_flight_at_signal": len(flying), "in_flight_completed_ok": sum(1 for r in flying if r[2] == "ok"),
            "requests_before_signal_ok": sum(1 for r in outcomes.rows if r[1] <= moment and r[2] == "ok"),
            "requests_started_after_signal_refused": sum(1 for r in outcomes.rows if r[0] >= moment and r[2] != "ok")}


def sigkill_worker(args, tmp, payload):
    server = start_server(args, tmp, "sigkill")
    try:
        url = f"{server.url}/predict/{args.module}"
        threads, outcomes = clients(url, payload, 16, until=time.monotonic() + args.kill_after * 3, timeout=60)
        time.sleep(args.kill_after)
        master = _descendants(server.proc.pid)[0]
        worker = _descendants(master)[0]
        os.kill(worker, signal.SIGKILL)
        moment = time.monotonic()
        join(threads)
        failed = [r for r in outcomes.rows if r[2] != "ok"]
        return {"clients": 16, "requests": len(outcomes.rows), "ok": outcomes.count("ok"), "lost": len(failed),
                "lost_kinds": sorted({r[2] for r in failed}),
                "in_flight_at_kill": len(in_flight_at(outcomes, moment)),
                "worker_replaced": len(_descendants(master)) == args.workers}
    finally:
        stop_server(server)


SCENARIOS = {"load": load, "slow": slow, "burst": burst, "sigterm": sigterm, "sigkill": sigkill_worker}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", default="face_landmark_localization")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1000, help="requests per client in the load scenario")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds with --baseline")
    parser.add_argument("--baseline", help="'gunicorn' (today's app without the front) or a checkout to compare "
                                           "the load against")
    parser.add_argument("--slow_clients", type=int, default=50, help="slow-body and slowloris connections, each")
    parser.add_argument("--slow_seconds", type=float, default=30)
    parser.add_argument("--burst_seconds", type=float, default=15)
    parser.add_argument("--kill_after", type=float, default=3, help="seconds of load before SIGTERM / SIGKILL")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "serving_soak.json"))
    args = parser.parse_args(argv)

    payload = {"images": [base64.b64encode(IMAGE.read_bytes()).decode()]}
    report = {"module": args.module, "workers": args.workers, "image": os.path.relpath(IMAGE, REPO),
              "cpu_count": os.cpu_count(), "libraries": library_versions()}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.scenarios.split(","):
            started = time.monotonic()
            report[name] = SCENARIOS[name](args, Path(tmp), payload)
            report[name]["scenario_wall_s"] = round(time.monotonic() - started, 1)
            print(name, json.dumps(report[name]), file=sys.stderr, flush=True)
    text = json.dumps(report, indent=2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
