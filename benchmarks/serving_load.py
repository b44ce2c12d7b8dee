"""Load test of `hub serving`: N concurrent clients x M requests each of one real photo.

Starts a server (`hub serving start -m MODULE --workers W` on a free port) unless --url targets a
running one; reports throughput, latency percentiles and errors as JSON, beside the in-process
module.predict() throughput on the same image (one process, the default ONNX threads).

    python benchmarks/serving_load.py --workers 2 --clients 8 --requests 200
"""
import argparse
import base64
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hub_core.serving.process import ServerProcess  # noqa: E402
from hub_core.versions import library_versions  # noqa: E402

DEFAULT_IMAGE = REPO.parent / "shared" / "data" / "images" / "linzaer_13.jpg"


def client(url, payload, count, latencies, failures, lock):
    session = requests.Session()
    for _ in range(count):
        start = time.perf_counter()
        try:
            reply = session.post(url, json=payload, timeout=120)
            ok = reply.status_code == 200 and reply.json()["status"] == "000" \
                and not any(e.get("error") for e in reply.json()["results"])
        except (requests.RequestException, ValueError):
            ok = False
        elapsed = time.perf_counter() - start
        with lock:
            (latencies if ok else failures).append(elapsed)


def load_test(base_url, module, image_b64, clients, per_client):
    url = f"{base_url}/predict/{module}"
    payload = {"images": [image_b64]}
    first = requests.post(url, json=payload, timeout=120)
    first.raise_for_status()
    latencies, failures, lock = [], [], threading.Lock()
    threads = [threading.Thread(target=client, args=(url, payload, per_client, latencies, failures, lock))
               for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {"requests": clients * per_client, "ok": len(latencies), "errors": len(failures),
            "wall_s": round(wall, 3), "throughput_rps": round(len(latencies) / wall, 2),
            "latency_ms": {"mean": round(float(ms.mean()), 2), "p50": round(float(np.percentile(ms, 50)), 2),
                           "p95": round(float(np.percentile(ms, 95)), 2), "p99": round(float(np.percentile(ms, 99)), 2),
                           "max": round(float(ms.max()), 2)},
            "instances_in_first_reply": len(first.json()["results"][0].get("data", []))}


def in_process(module_name, image_path, iterations):
    from hub_core import Module, images as imio
    from hub_core.engine import default_threads
    module = Module(name=module_name)
    image = imio.read(image_path)
    module.predict(images=[image])
    start = time.perf_counter()
    for _ in range(iterations):
        module.predict(images=[image])
    wall = time.perf_counter() - start
    return {"iterations": iterations, "onnx_threads": default_threads(),
            "throughput_ips": round(iterations / wall, 2), "latency_ms": round(wall / iterations * 1000, 2)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="target a running server (e.g. http://127.0.0.1:8866) instead of starting one")
    parser.add_argument("--module", default="face_landmark_localization")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the server started here")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--requests", type=int, default=200, help="requests per client")
    parser.add_argument("--image", default=str(DEFAULT_IMAGE))
    parser.add_argument("--in_process_iterations", type=int, default=100)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "serving_load.json"))
    args = parser.parse_args(argv)

    image_b64 = base64.b64encode(Path(args.image).read_bytes()).decode()
    report = {"module": args.module, "image": os.path.relpath(args.image, REPO), "clients": args.clients,
              "requests_per_client": args.requests, "cpu_count": os.cpu_count()}
    if args.url:
        report["server"] = {"url": args.url}
        report["load"] = load_test(args.url.rstrip("/"), args.module, image_b64, args.clients, args.requests)
    else:
        server = ServerProcess(["-m", args.module, "--workers", str(args.workers)])
        with server:
            report["server"] = {"started": " ".join(server.command[1:]), "workers": args.workers,
                                "onnx_threads_per_worker": int(os.environ.get("HUB_NUM_THREADS") or
                                                               max(1, (os.cpu_count() or 1) // args.workers))}
            report["load"] = load_test(server.url, args.module, image_b64, args.clients, args.requests)
    report["in_process"] = in_process(args.module, args.image, args.in_process_iterations)
    report["server_vs_in_process"] = round(report["load"]["throughput_rps"] / report["in_process"]["throughput_ips"], 3)

    report["libraries"] = library_versions()
    text = json.dumps(report, indent=2)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)
    return 0 if report["load"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
