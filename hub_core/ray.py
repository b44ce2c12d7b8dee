"""`hub run --engine ray`: a job's shards through a pool of Ray Data actors, each holding one hub module.

    import hub_core.ray
    summary = hub_core.ray.run("human_pose_estimation", "photos/", "out/", num_workers=4)

The driver lists the inputs once into shards (hub_core.manifest) and records them in OUT; each actor
reads its shard's files itself, runs the module (KeypointPredictor) and writes the shard's file
atomically (hub_core.shard_files); resume=True skips the shards whose file exists. A killed actor is
restarted by Ray and its shard recomputed and rewritten whole, so every row is written once.
Ray is imported only here, by absolute import (this file's name must not shadow the `ray` package).
"""
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from hub_core import manifest as mf
from hub_core.manifest import JobError
from hub_core import shard_files as sf
from hub_core.batch_predict import COLUMNS, KeypointPredictor  # noqa: F401 - KeypointPredictor is public here
from hub_core.aliases import resolve
from hub_core.keypoint import RESULT_SCHEMA_VERSION
from hub_core.module import find, unknown_module

# Hub settings a driver passes on to its workers (a worker on another node has its own environment).
FORWARDED_ENV = ("HUB_HOME", "HUB_MODEL_MIRRORS", "HUB_OFFLINE", "HUB_MAX_IMAGE_PIXELS", "HUB_ORT_SPIN")
PROGRESS_EVERY = 16  # rows between a worker's progress reports


def import_ray():
    os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")  # read when Ray Data sets up its logging
    try:
        import ray
    except ImportError:
        raise JobError("--engine ray needs Ray: pip install 'keypoint-hub[ray]' (Python >= 3.10)") from None
    return ray


class ShardWorker:
    """A Ray Data actor: per shard, its rows computed, then its file written atomically; yields
    progress records {shard, rows, errors, final} on the way."""

    def __init__(self, module, out, fmt, threads, use_gpu, batch_size, module_kwargs):
        started = time.perf_counter()
        self.predictor = KeypointPredictor(module, threads, use_gpu, batch_size, **module_kwargs)
        self.out, self.fmt = out, fmt
        self.load_s = time.perf_counter() - started

    def __call__(self, batch):
        for shard, units in zip(batch["shard"], batch["units"]):
            shard, records, errors = int(shard), [], 0
            for unit, entry in self.predictor.records(json.loads(units)):
                records.append((unit, entry))
                errors += bool(entry.get("error"))
                if len(records) == 1 or len(records) % PROGRESS_EVERY == 0:
                    yield self._report(shard, len(records), errors, False)
            path = sf.shard_path(self.out, shard, self.fmt)
            if self.fmt == "jsonl":
                sf.write_shard(path, "jsonl", rows=[self.predictor.row(u, e) for u, e in records])
            else:
                sf.write_shard(path, "parquet", columns=self.predictor.columns(records))
            yield self._report(shard, len(records), errors, True)

    def _report(self, shard, rows, errors, final):
        return {"shard": [shard], "rows": [rows], "errors": [errors], "final": [final], "load_s": [self.load_s]}


def parse_workers(spec):
    """--num_workers N or MIN:MAX -> (min, max)."""
    text = str(spec)
    low, _, high = text.partition(":")
    try:
        low, high = int(low), int(high or low)
    except ValueError:
        raise JobError(f"--num_workers {text!r}: give N or MIN:MAX") from None
    if not 1 <= low <= high:
        raise JobError(f"--num_workers {text!r}: need 1 <= MIN <= MAX")
    return low, high


def start_cluster(address, cpus):
    """Connect to Ray; True when this call did (so the caller disconnects, stopping a local cluster).
    A local cluster has `cpus` logical CPUs and the machine's GPUs, binds to 127.0.0.1 only and sends
    no usage stats."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    common = {"logging_level": "WARNING", "configure_logging": True}
    if address in (None, "", "local"):
        # Ray reads this at import into ray_constants; unset, its servers listen on every address.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        ray._private.ray_constants.ENABLE_RAY_CLUSTER = False
        ray.init(address="local", num_cpus=cpus, _node_ip_address="127.0.0.1",
                 include_dashboard=False, **common)
    else:
        ray.init(address=address, **common)
    return True


def stop_cluster():
    import_ray().shutdown()


def _plan(out, input_path, module, fmt, rows_per_shard, segment_frames, resume):
    """The job's shards: listed now and recorded in OUT, or read back from OUT when resuming."""
    job_file = out / "job.json"
    if job_file.is_file():
        if not resume:
            raise JobError(f"{out} already holds a job: add --resume to finish it, or give a new --output_dir")
        job = json.loads(job_file.read_text())
        if (job["module"], job["output_format"]) != (module, fmt):
            raise JobError(f"{out} holds a {job['module']} job in {job['output_format']}; "
                             f"cannot resume it as {module} in {fmt}")
        with open(out / "manifest.jsonl") as f:
            units = [json.loads(line) for line in f]
        return job, _group(units)
    units = mf.units(mf.list_inputs(input_path), segment_frames)
    rows_per_shard = rows_per_shard or mf.default_rows_per_shard(sum(map(mf.unit_rows, units)))
    groups = mf.shards(units, rows_per_shard)
    out.mkdir(parents=True, exist_ok=True)
    sf.write_atomic(out / "manifest.jsonl", lambda tmp: Path(tmp).write_text(
        "".join(json.dumps({**u, "shard": k}) + "\n" for k, group in enumerate(groups) for u in group)))
    job = {"module": module, "output_format": fmt, "input": str(input_path), "rows_per_shard": rows_per_shard,
           "segment_frames": segment_frames, "inputs": len({u["row_id"] for u in units}), "shards": len(groups)}
    sf.write_json(job_file, job)
    return job, groups


def _group(units):
    groups = {}
    for u in units:
        groups.setdefault(u.pop("shard"), []).append(u)
    return [groups[k] for k in sorted(groups)]


def run(module, input_path, output_dir, address=None, num_workers=1, threads_per_worker=1, gpus_per_worker=0,
        batch_size=None, output_format="jsonl", resume=False, rows_per_shard=None, segment_frames=1000,
        progress=True, **module_kwargs):
    """Run a module over every input (folder, glob or manifest .txt/.jsonl/.parquet) on a Ray cluster.

    Writes OUT/part-NNNNN.{jsonl,parquet} (one row per image or video frame, errors kept),
    OUT/manifest.jsonl + job.json (the shards), OUT/summary.json and OUT/_SUCCESS. address: None starts
    a local cluster (stopped at the end), 'auto' joins a running one. num_workers: N or (MIN, MAX) or
    'MIN:MAX'. Returns the summary.
    """
    started = time.perf_counter()
    if output_format not in sf.FORMATS:
        raise JobError(f"output_format {output_format!r}: the ray engine writes {' or '.join(sf.FORMATS)}")
    if gpus_per_worker and not batch_size:
        raise JobError("GPU workers need an explicit batch_size (images per model call)")
    low, high = num_workers if isinstance(num_workers, tuple) else parse_workers(num_workers)
    threads = max(1, int(threads_per_worker))
    batch_size = max(1, int(batch_size or 1))
    if find(resolve(module)) is None:
        raise unknown_module(module)
    module = resolve(module)
    out = Path(output_dir)
    job, groups = _plan(out, input_path, module, output_format, rows_per_shard, segment_frames, resume)
    (out / "_SUCCESS").unlink(missing_ok=True)
    times = {"listing_s": round(time.perf_counter() - started, 3)}
    todo = [k for k in range(len(groups)) if not (resume and sf.shard_path(out, k, output_format).is_file())]

    # Every worker reserves its threads' CPUs; one more CPU stays free for Ray Data's own tasks, so the
    # pool can never hold every CPU while a read or write task waits for one.
    cpus = max(os.cpu_count() or 1, high * threads + 1)
    owns_cluster = start_cluster(address, cpus) if todo else False
    times["cluster_start_s"] = round(time.perf_counter() - started - times["listing_s"], 3)
    done = {}
    try:
        if todo:
            high = _fit_pool(low, high, threads, gpus_per_worker)
            done, times_run = _execute(module, out, output_format, groups, todo, low, high, threads,
                                       gpus_per_worker, batch_size, module_kwargs, progress)
            times.update(times_run)
    finally:
        if owns_cluster:
            stop_cluster()
    rows = errors = 0
    for k in range(len(groups)):
        path = sf.shard_path(out, k, output_format)
        if not path.is_file():
            raise JobError(f"shard {k} has no output ({path}); rerun with --resume")
        n, e = done[k] if k in done else sf.shard_counts(path, output_format)
        rows, errors = rows + n, errors + e
    elapsed = time.perf_counter() - started
    times["rows_per_s"] = round(sum(n for n, _ in done.values()) / elapsed, 2)  # rows computed in this run
    ray_version = import_ray().__version__ if todo else None
    summary = {"module": module, "schema_version": RESULT_SCHEMA_VERSION, "output_format": output_format,
               "input": job["input"], "inputs": job["inputs"], "rows": rows, "errors": errors,
               "shards": len(groups), "shards_computed": len(todo), "shards_skipped": len(groups) - len(todo),
               "rows_per_shard": job["rows_per_shard"], "workers": [low, high], "threads_per_worker": threads,
               "gpus_per_worker": gpus_per_worker, "batch_size": batch_size, "address": address or "local",
               "seconds": round(elapsed, 3), "ray_version": ray_version, **times}
    sf.write_json(out / "summary.json", summary)
    (out / "_SUCCESS").touch()
    return summary


def _fit_pool(low, high, threads, gpus):
    """The pool's MAX, lowered (with a warning) where the cluster lacks the CPUs for it plus one."""
    resources = import_ray().cluster_resources()
    fit = int((resources.get("CPU", 0) - 1) // threads)
    if gpus:
        fit = min(fit, int(resources.get("GPU", 0) // gpus))
    if fit < low:
        raise JobError(f"the cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs: "
                           f"not enough for {low} workers of {threads} CPUs / {gpus} GPUs plus one CPU for Ray Data")
    if fit < high:
        print(f"hub: the cluster fits {fit} workers, not {high}", file=sys.stderr)
    return min(fit, high)


def _execute(module, out, fmt, groups, todo, low, high, threads, gpus, batch_size, module_kwargs, progress):
    """Run the shards `todo`; {shard: (rows, errors)} and fixed-cost times."""
    ray = import_ray()
    from tqdm import tqdm

    ray.util.debug.log_once("ray_data_progress_manager_disabled")  # so Ray Data does not warn that its bars are off
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    total = sum(mf.unit_rows(u) for k in todo for u in groups[k])
    rows, errors, done, loads, progress_points = {}, {}, {}, [], []
    start, first_row, rows_done = time.perf_counter(), None, 0
    # For this job only (a dataset keeps the settings it was made with): no Ray Data bars (the job's bar
    # counts rows), and every progress report its own block, so reports stream as they are made.
    settings = {"enable_progress_bars": False, "print_on_execution_start": False, "target_max_block_size": 1}
    with _data_settings(ray.data.DataContext.get_current(), settings), \
            tqdm(total=total, unit="row", file=sys.stderr, disable=not progress, mininterval=1.0) as bar:
        items = [{"shard": k, "units": json.dumps(groups[k])} for k in todo]
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ShardWorker, batch_size=1, compute=ray.data.ActorPoolStrategy(min_size=low, max_size=high),
            num_cpus=threads, num_gpus=gpus or None,
            fn_constructor_kwargs={"module": module, "out": str(out), "fmt": fmt, "threads": threads,
                                   "use_gpu": bool(gpus), "batch_size": batch_size, "module_kwargs": module_kwargs},
            runtime_env={"env_vars": env} if env else None)
        for report in ds.iter_rows():
            k, n, e = int(report["shard"]), int(report["rows"]), int(report["errors"])
            first_row = first_row or time.perf_counter() - start
            loads.append(float(report["load_s"]))
            # A retried shard reports from 0 again: until its final report the bar keeps its highest count.
            new = n if report["final"] else max(rows.get(k, 0), n)
            rows_done += new - rows.get(k, 0)
            bar.update(new - rows.get(k, 0))
            rows[k], errors[k] = new, e if report["final"] else max(errors.get(k, 0), e)
            if report["final"]:
                done[k] = (n, e)
            bar.set_postfix(errors=sum(errors.values()), refresh=False)
            progress_points.append((time.perf_counter(), rows_done))
    return done, {"worker_load_s": round(max(loads, default=0.0), 3), "first_row_s": round(first_row or 0.0, 3),
                  "run_s": round(time.perf_counter() - start, 3),
                  "steady_rows_per_s": round(steady_rate(progress_points, total), 2)}


@contextlib.contextmanager
def _data_settings(context, settings):
    """Ray Data context settings while the block runs; the caller's own are restored after it."""
    saved = {name: getattr(context, name) for name in settings}
    for name, value in settings.items():
        setattr(context, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(context, name, value)


def steady_rate(points, total):
    """Rows/s between 10% and 90% of the rows done, from (time, rows done) points: the running rate
    once every worker is up, without start-up or the last shards' tail."""
    inside = [(t, n) for t, n in points if 0.1 * total <= n <= 0.9 * total]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return 0.0
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
