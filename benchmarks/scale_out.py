"""In-process vs `--engine ray` on the same image list: face_landmark_localization over 640 AFW photos
(the 185 of ../shared/data/face/300w_afw repeated in order), batch_size 1, three set-ups alternated
round by round, each in a fresh subprocess:

  in_process   hub.Module(...).keypoint_detection, HUB_NUM_THREADS=2 (every core of this machine)
  in_process_1t  the same with 1 thread (what each Ray worker runs)
  ray_1x1      hub_core.ray.run on its own local cluster, 1 worker x 1 thread
  ray_2x1      the same, 2 workers x 1 thread

Per run: images/s for the whole job and in steady state (between 10% and 90% of the rows done),
CPU ms per image and peak memory of the process tree (its processes' CPU times and summed RSS,
sampled every 0.2 s from /proc), fixed costs (cluster start, worker start = module load, first row).
Ratios to in_process are taken round by round (median), so the machine's slow spells fall on both sides.

    python benchmarks/scale_out.py [--images 640] [--rounds 2] [--out benchmarks/results/scale_out.json]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from hub_core.evaluate import emit_report  # noqa: E402

AFW = REPO.parent / "shared" / "data" / "face" / "300w_afw" / "images"
MODULE = "face_landmark_localization"
TICK = int(os.sysconf("SC_CLK_TCK"))
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

IN_PROCESS = """
import json, sys, time
sys.path.insert(0, {repo!r})
from hub_core.ray import steady_rate
import hub_core as hub
t0 = time.perf_counter()
module = hub.Module(name={module!r})
module.net(False)
load = time.perf_counter() - t0
paths = open({manifest!r}).read().split()
start = time.perf_counter()
errors = sum(bool(e.get("error")) for e in module.keypoint_detection(paths=paths[:1]))
first_row = time.perf_counter() - start
points = [(time.perf_counter(), 1)]
for i in range(1, len(paths), 16):
    errors += sum(bool(e.get("error")) for e in module.keypoint_detection(paths=paths[i:i + 16], batch_size=1))
    points.append((time.perf_counter(), min(i + 16, len(paths))))
total = time.perf_counter() - t0
print(json.dumps({{"rows": len(paths), "errors": errors, "worker_load_s": round(load, 3),
                  "first_row_s": round(first_row, 3), "cluster_start_s": 0.0, "seconds": round(total, 3),
                  "steady_rows_per_s": round(steady_rate(points, len(paths)), 2)}}))
"""

RAY = """
import json, sys
sys.path.insert(0, {repo!r})
import hub_core.ray
print(json.dumps(hub_core.ray.run({module!r}, {manifest!r}, {out!r}, num_workers={workers}, progress=False)))
"""


def tree_sampler(pid):
    """Sample the process tree under pid: (peak summed RSS MB, {pid: cpu seconds last seen})."""
    cpu, peak = {}, 0

    def sample():
        nonlocal peak
        children, stats = {}, {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
            stats[int(stat.parent.name)] = fields
        tree, todo = [pid], [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                tree.append(child)
                todo.append(child)
        rss = 0
        for p in tree:
            if p in stats:
                f = stats[p]  # fields after the name: state=0, utime=11, stime=12, rss=21 (pages)
                cpu[p] = (int(f[11]) + int(f[12])) / TICK
                rss += int(f[21]) * PAGE_KB
        peak = max(peak, rss)

    def result():
        return round(peak / 1024, 1), round(sum(cpu.values()), 2)
    return sample, result


def run_one(kind, manifest, workdir):
    out = Path(workdir) / f"out_{kind}_{time.monotonic_ns()}"
    if kind.startswith("in_process"):
        code = IN_PROCESS.format(repo=str(REPO), module=MODULE, manifest=str(manifest))
        env = {**os.environ, "HUB_NUM_THREADS": "1" if kind == "in_process_1t" else "2"}
    else:
        code = RAY.format(repo=str(REPO), module=MODULE, manifest=str(manifest), out=str(out),
                          workers=int(kind[4]))
        env = dict(os.environ)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    sample, result = tree_sampler(proc.pid)
    deadline = start + 900
    while proc.poll() is None and time.perf_counter() < deadline:
        sample()
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
        raise RuntimeError(f"{kind}: still running after 900 s")
    wall = time.perf_counter() - start
    summary = json.loads(proc.stdout.read().strip().splitlines()[-1])
    peak_mb, cpu_s = result()
    rows = summary["rows"]
    return {"wall_s": round(wall, 2), "images_per_s_job": round(rows / wall, 2),
            "images_per_s_steady": summary["steady_rows_per_s"], "cpu_ms_per_image": round(1000 * cpu_s / rows, 1),
            "peak_tree_rss_mb": peak_mb, "errors": summary["errors"],
            "fixed_s": {"cluster_start": summary["cluster_start_s"], "worker_start": summary["worker_load_s"],
                        "first_row": summary["first_row_s"]}}


def libraries():
    from importlib import metadata

    from hub_core.versions import library_versions
    return {**library_versions(), **{name: metadata.version(name) for name in ("ray", "pyarrow")}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=640)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "scale_out.json"))
    args = parser.parse_args()
    photos = sorted(AFW.glob("*.jpg"))
    paths = [str(photos[i % len(photos)]) for i in range(args.images)]
    kinds = ("in_process", "in_process_1t", "ray_1x1", "ray_2x1")
    runs = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="scale_out_") as workdir:
        manifest = Path(workdir) / "images.txt"
        manifest.write_text("\n".join(paths) + "\n")
        for r in range(args.rounds):
            for kind in kinds:
                runs[kind].append(run_one(kind, manifest, workdir))
                print(f"round {r + 1} {kind}: {json.dumps(runs[kind][-1])}", flush=True)

    def ratio(kind, key):
        return round(statistics.median(a[key] / b[key] for a, b in zip(runs[kind], runs["in_process"])), 3)

    medians = {k: {key: statistics.median(run[key] for run in runs[k])
                   for key in ("images_per_s_job", "images_per_s_steady", "cpu_ms_per_image", "peak_tree_rss_mb")}
               for k in kinds}
    report = {"module": MODULE, "images": args.images, "batch_size": 1, "rounds": args.rounds,
              "setups": {"in_process": "one process, HUB_NUM_THREADS=2",
                         "in_process_1t": "one process, HUB_NUM_THREADS=1",
                         "ray_1x1": "local Ray cluster, 1 worker x 1 thread",
                         "ray_2x1": "local Ray cluster, 2 workers x 1 thread"},
              "median": medians,
              "ratio_to_in_process": {k: {"steady": ratio(k, "images_per_s_steady"), "job": ratio(k, "images_per_s_job")}
                                      for k in kinds[1:]},
              "runs": runs, "libraries": libraries(), "cpus": os.cpu_count()}
    table = "\n".join(f"{k:<13} job {m['images_per_s_job']:6.1f} img/s  steady {m['images_per_s_steady']:6.1f} img/s  "
                      f"cpu {m['cpu_ms_per_image']:6.1f} ms/img  peak {m['peak_tree_rss_mb']:7.1f} MB"
                      for k, m in medians.items())
    table += "\nsteady ratio to in_process: " + json.dumps(report["ratio_to_in_process"])
    emit_report(table, report, args.out)


if __name__ == "__main__":
    main()
