"""`hub benchmark MODULE`: per-stage speed of a keypoint module on this machine.

Stages per image (median and p90 over the timed passes): decode (file read + image decode), detector
(module.detect), keypoint (module.estimate: crops + keypoint network + decoding), post-process (the
rest of keypoint_detection: result entries). Then each ONNX model alone, replaying the batch sizes it
got in the pipeline on a real input row it saw there, so pipeline time / model time shows the overhead
around the networks.
The module's code is not changed: its methods and session.run calls are wrapped on the instance.
"""
import argparse
import os
import platform
import resource
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from . import images as imio
from .engine import OnnxModel, default_threads
from .evaluate import emit_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_IMAGES = {  # task -> image folders in shared/data, first match wins
    "face": ["face/300w_afw/images"],
    "hand": ["hand/mmpose_tests/onehand10k", "hand/mmpose_tests/freihand", "hand/mmpose_tests/panoptic"],
    "body": ["body/coco_train_mini/train2017"],
    "animal": ["animal/dlc_openfield_mouse/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1",
               "animal/mmpose_tests/ap10k"],
}
STAGES = ("decode", "detector", "keypoint", "postprocess", "total")


def default_images(task, limit):
    paths = []
    for folder in DEFAULT_IMAGES.get(task, []) + ["images"]:
        if (SHARED / folder).is_dir():
            paths += [str(p) for p in imio.list_images(SHARED / folder)[0]]
        if len(paths) >= limit:
            break
    return paths[:limit]


def onnx_models(net):
    """OnnxModel attributes of a net object (one level deep, lists included)."""
    found = []
    for value in vars(net).values() if net is not None else []:
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, OnnxModel):
                found.append(v)
    return found


class Timer:
    """Accumulates seconds per stage for the current batch; wraps callables."""

    def __init__(self):
        self.current = {}

    def wrap(self, stage, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.current[stage] = self.current.get(stage, 0.0) + time.perf_counter() - start
        return timed


def summary(values_ms):
    v = np.asarray(values_ms, np.float64)
    return {"median_ms": round(float(np.median(v)), 3), "p90_ms": round(float(np.percentile(v, 90)), 3),
            "mean_ms": round(float(v.mean()), 3)}


def time_model_alone(model, batch, repeat):
    """Median ms of one session run on batch."""
    feed = {model.input_name: batch}
    model.session.run(model.output_names, feed)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        model.session.run(model.output_names, feed)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def replay_alone(model, row, batch_sizes, repeat=10):
    """Total ms the session alone needs for runs of these batch sizes, each a copy of one real row."""
    counts = Counter(batch_sizes)
    return sum(n * time_model_alone(model, np.repeat(row, b, axis=0), repeat) for b, n in counts.items() if b)


def benchmark(module, paths, batch_size=1, repeat=3, use_gpu=False):
    timer = Timer()
    # build sessions first (keypoint_detection does so too), then wrap what we time
    module.net(use_gpu)
    detector = module.detector
    det_net = detector.net(use_gpu) if callable(getattr(detector, "net", None)) else None
    models = {}
    for role, net in (("keypoint", module.net(use_gpu)), ("detector", det_net)):
        for i, m in enumerate(onnx_models(net)):
            name = f"{role}:{Path(m.path).stem}" if i == 0 else f"{role}:{Path(m.path).stem}#{i}"
            models[name] = m
    feeds = {name: [] for name in models}  # batch size of every session run in the timed passes
    samples = {}  # one real input row per model, for the model-alone timing

    def record(name, run):
        def wrapped(output_names, feed, *args, **kwargs):
            batch = next(iter(feed.values()))
            feeds[name].append(len(batch))
            if name not in samples and len(batch):
                samples[name] = np.array(batch[:1])
            return timer.wrap(f"model {name}", run)(output_names, feed, *args, **kwargs)
        return wrapped

    originals = {name: m.session.run for name, m in models.items()}
    for name, m in models.items():
        m.session.run = record(name, m.session.run)
    module.detect = timer.wrap("detector", module.detect)
    module.estimate = timer.wrap("keypoint", module.estimate)
    try:
        warm = [imio.load(p, p) for p in paths[:max(1, batch_size)]]
        module.keypoint_detection(images=warm, batch_size=batch_size, use_gpu=use_gpu, strict=True)
        for v in feeds.values():
            v.clear()
        per_image = {s: [] for s in STAGES}
        model_ms = {name: [] for name in models}
        instances, wall = 0, 0.0
        for _ in range(repeat):
            for start in range(0, len(paths), batch_size):
                chunk = paths[start:start + batch_size]
                timer.current = {}
                t0 = time.perf_counter()
                imgs = [imio.load(p, p) for p in chunk]
                t1 = time.perf_counter()
                entries = module.keypoint_detection(images=imgs, batch_size=batch_size, use_gpu=use_gpu, strict=True)
                t2 = time.perf_counter()
                wall += t2 - t0
                instances += sum(len(e["instances"]) for e in entries)
                n = len(chunk)
                det, kp = timer.current.get("detector", 0.0), timer.current.get("keypoint", 0.0)
                for stage, seconds in (("decode", t1 - t0), ("detector", det), ("keypoint", kp),
                                       ("postprocess", (t2 - t1) - det - kp), ("total", t2 - t0)):
                    per_image[stage] += [seconds * 1000 / n] * n
                for name in models:
                    model_ms[name] += [timer.current.get(f"model {name}", 0.0) * 1000 / n] * n
    finally:
        for name, m in models.items():
            m.session.run = originals[name]
        for attr in ("detect", "estimate"):
            module.__dict__.pop(attr, None)

    images_timed = len(paths) * repeat
    alone = {}
    for name, m in models.items():
        sizes = feeds[name]
        if name not in samples:
            continue
        one = samples[name]
        alone[name] = {"input_shape": list(one.shape), "ms_per_row_batch_1": round(time_model_alone(m, one, 20), 3),
                       "runs_per_image": round(len(sizes) / images_timed, 3),
                       "rows_per_image": round(sum(sizes) / images_timed, 3),
                       "ms_per_image": round(replay_alone(m, one, sizes) / images_timed, 3),
                       "in_pipeline_ms_per_image": round(float(np.mean(model_ms[name])), 3)}
    stages = {s: summary(v) for s, v in per_image.items()}
    models_total = sum(a["ms_per_image"] for a in alone.values())
    pipeline_ms = stages["total"]["mean_ms"]
    return {
        "module": module.name, "images": len(paths), "repeat": repeat, "batch_size": batch_size,
        "use_gpu": use_gpu, "instances_per_image": round(instances / images_timed, 3),
        "stages_per_image": stages,
        "images_per_s": round(images_timed / wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "models_alone": alone,
        "models_alone_ms_per_image": round(models_total, 3),
        "pipeline_over_models": round(pipeline_ms / models_total, 3) if models_total else None,
        "notes": "stages are per image (batch time / batch size); models_alone: each ONNX session run alone with "
                 "the batch sizes it got in the pipeline (copies of one real input row captured there), per image; "
                 "in_pipeline_ms_per_image: the same session's mean time inside the pipeline; "
                 "pipeline_over_models = mean end-to-end ms per image / models_alone_ms_per_image",
    }


def format_table(report):
    lines = [f"{report['module']}: {report['images']} images x {report['repeat']}, batch {report['batch_size']}, "
             f"{report['instances_per_image']} instances/image",
             f"  {'stage':<14}{'median ms':>12}{'p90 ms':>12}"]
    for stage, s in report["stages_per_image"].items():
        lines.append(f"  {stage:<14}{s['median_ms']:>12.2f}{s['p90_ms']:>12.2f}")
    lines.append(f"  images/s end to end: {report['images_per_s']}   peak RSS: {report['peak_rss_mb']} MB")
    for name, a in report["models_alone"].items():
        lines.append(f"  model {name} {a['input_shape'][1:]}: {a['rows_per_image']} rows/image in "
                     f"{a['runs_per_image']} runs; alone {a['ms_per_image']} ms/image "
                     f"({a['ms_per_row_batch_1']} ms/row at batch 1), in pipeline {a['in_pipeline_ms_per_image']} ms/image")
    lines.append(f"  pipeline / models alone: {report['pipeline_over_models']}")
    return "\n".join(lines)


def run(name, images=None, max_images=20, batch_size=1, threads=None, repeat=3, use_gpu=False):
    """benchmark() of keypoint module `name` on an image folder (default: a small shared/data set for
    its task), with the machine it ran on."""
    from .evaluate import choose_task
    from .module import Module
    module = Module(name=name, **({"threads": threads} if threads else {}))
    if not hasattr(module, "estimate"):
        raise ValueError(f"{name} is not a keypoint module")
    if images:
        paths = [str(p) for p in imio.list_images(Path(images))[0]][:max_images]
    else:
        paths = default_images(choose_task(module.meta), max_images)
    if not paths:
        raise ValueError(f"no images in {images or SHARED}")
    report = benchmark(module, paths, batch_size, repeat, use_gpu)
    report["machine"] = {"cpus": os.cpu_count(), "threads": threads or default_threads(),
                         "processor": platform.processor() or platform.machine()}
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="hub benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module")
    parser.add_argument("--images", default=None, help="image folder (default: a small shared/data set for the module)")
    parser.add_argument("--max_images", type=int, default=20)
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads per session")
    parser.add_argument("--use_gpu", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the images")
    parser.add_argument("--out", default=None, help="write the report JSON here")
    args = parser.parse_args(argv)

    try:
        report = run(args.module, args.images, args.max_images, args.batch_size, args.threads, args.repeat,
                     args.use_gpu)
    except Exception as e:  # noqa: BLE001 - one clear line for the user
        print(f"hub benchmark: {e}", file=sys.stderr)
        return 1
    emit_report(format_table(report), report, args.out)
    return 0
