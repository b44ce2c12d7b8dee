"""`hub benchmark MODULE`: per-stage speed of a keypoint module on this machine.

Stages per image (median and p90 over the timed chunks), which add up to the total: decode (file read +
image decode), detector (module.detect: detector pre-processing, network, boxes), crop (the affine warps
of the instance crops), keypoint_model (the keypoint network's session runs) and postprocess (the rest:
crop normalisation, keypoint decoding, result entries).

The ONNX models alone: after each timed pass over the images, every session replays the runs it made
in that pass (same batch sizes, copies of a real input row it saw there) back to back. Each pass also runs
the images as one folder (paths in, decoding prefetched on a thread, as `hub run` does). Pipeline time /
models' time is taken pass by pass, so a slow spell on a shared machine hits both sides of a ratio; the
report gives the median over passes: image by image with and without the file decoding, and as a folder.
The pipeline measures itself: the engine's stage timer (hub_core.engine.stages) is switched on, the pipeline
adds each stage's time where the stage runs, and every ONNX session logs its runs (rows, seconds). Nothing of
the module is wrapped or patched; this file only reads those records.
"""
import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

from . import progress
from . import images as imio
from .args import Parser, positive_int
from .engine import OnnxModel, default_threads, stages
from .evaluate import emit_report
from .modes import MODE_HELP, MODES

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_IMAGES = {  # task -> image folders in shared/data, first match wins
    "face": ["face/300w_afw/images"],
    "hand": ["hand/mmpose_tests/onehand10k", "hand/mmpose_tests/freihand", "hand/mmpose_tests/panoptic"],
    "body": ["body/coco_train_mini/train2017"],
    "animal": ["animal/dlc_openfield_mouse/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1",
               "animal/mmpose_tests/ap10k"],
}
STAGES = ("decode", "detector", "crop", "keypoint_model", "postprocess", "total")


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


def replay(model, batches, sizes):
    """ms the session needs alone to make runs of these batch sizes back to back."""
    if not sizes:
        return 0.0
    run = model.session.run
    run(model.output_names, {model.input_name: batches[sizes[0]]})  # warm-up
    start = time.perf_counter()
    for b in sizes:
        run(model.output_names, {model.input_name: batches[b]})
    return (time.perf_counter() - start) * 1000


def session_models(module, use_gpu):
    """{'keypoint:<file>' | 'detector:<file>': OnnxModel} of the module and its detector."""
    detector = module.detector
    det_net = detector.net(use_gpu) if callable(getattr(detector, "net", None)) else None
    models = {}
    for role, net in (("keypoint", module.net(use_gpu)), ("detector", det_net)):
        for i, m in enumerate(onnx_models(net)):
            models[f"{role}:{Path(m.path).stem}" + (f"#{i}" if i else "")] = m
    return models


def benchmark(module, paths, batch_size=1, repeat=3, use_gpu=False):
    models = session_models(module, use_gpu)  # builds the sessions, as keypoint_detection would
    keypoint_models = [m for name, m in models.items() if name.startswith("keypoint:")]
    per_image = {s: [] for s in STAGES}
    model_ms = {name: [] for name in models}
    passes = []  # per pass: pipeline ms, decode ms, models-alone ms, runs per model
    instances = 0

    def start_chunk():
        stages.seconds = {}
        for m in models.values():
            m.runs.clear()

    bar = progress.bar(repeat * len(paths), f"hub benchmark {module.name}")
    stages.on = True
    try:
        warm = [imio.load(p, p) for p in paths[:max(1, batch_size)]]
        module.keypoint_detection(images=warm, batch_size=batch_size, use_gpu=use_gpu, strict=True)
        for _ in range(repeat):
            pass_runs = {name: [] for name in models}  # batch size of every session run in this pass
            pipeline = decode = 0.0
            for start in range(0, len(paths), batch_size):
                chunk = paths[start:start + batch_size]
                start_chunk()
                t0 = time.perf_counter()
                imgs = [imio.load(p, p) for p in chunk]
                t1 = time.perf_counter()
                entries = module.keypoint_detection(images=imgs, batch_size=batch_size, use_gpu=use_gpu, strict=True)
                t2 = time.perf_counter()
                pipeline, decode = pipeline + (t2 - t0) * 1000, decode + (t1 - t0) * 1000
                instances += sum(len(e["instances"]) for e in entries)
                spent = {"detector": stages.seconds.get("detector", 0.0), "crop": stages.seconds.get("crop", 0.0),
                         "keypoint_model": sum(s for m in keypoint_models for _, s in m.runs)}
                n = len(chunk)
                bar.update(len(chunk))
                stage_s = {"decode": t1 - t0, **spent, "postprocess": (t2 - t1) - sum(spent.values()), "total": t2 - t0}
                for stage, seconds in stage_s.items():
                    per_image[stage] += [seconds * 1000 / n] * n
                for name, m in models.items():
                    model_ms[name] += [sum(s for _, s in m.runs) * 1000 / n] * n
                    pass_runs[name] += [rows for rows, _ in m.runs]
            # the same images as `hub run` processes a folder: paths in, decoding prefetched on a thread
            t0 = time.perf_counter()
            module.keypoint_detection(paths=paths, batch_size=batch_size, use_gpu=use_gpu, strict=True)
            folder = (time.perf_counter() - t0) * 1000
            alone = models_alone_pass(models, pass_runs)
            passes.append({"pipeline_ms": pipeline, "decode_ms": decode, "folder_ms": folder, "alone_ms": alone,
                           "runs": pass_runs})
    finally:
        stages.on = False
        bar.close()
    samples = {name: m.sample for name, m in models.items() if m.sample is not None}
    return report(module, paths, batch_size, repeat, use_gpu, instances, per_image, model_ms, passes, models, samples)


def models_alone_pass(models, pass_runs):
    """{model: ms} for replaying this pass's runs of each session alone."""
    out = {}
    for name, sizes in pass_runs.items():
        sample = models[name].sample
        if sample is not None and sizes:
            batches = {b: np.repeat(sample, b, axis=0) for b in set(sizes) if b}
            out[name] = replay(models[name], batches, [b for b in sizes if b])
    return out


def report(module, paths, batch_size, repeat, use_gpu, instances, per_image, model_ms, passes, models, samples):
    n = len(paths)
    images_timed = n * repeat
    pipeline = [p["pipeline_ms"] / n for p in passes]
    folder = [p["folder_ms"] / n for p in passes]
    without_decode = [(p["pipeline_ms"] - p["decode_ms"]) / n for p in passes]
    alone_total = [sum(p["alone_ms"].values()) / n for p in passes]
    alone = {}
    for name, m in models.items():
        if name not in samples:
            continue
        sizes = [b for p in passes for b in p["runs"][name]]
        alone[name] = {"input_shape": list(samples[name].shape),
                       "ms_per_row_batch_1": round(time_model_alone(m, samples[name], 20), 3),
                       "runs_per_image": round(len(sizes) / images_timed, 3),
                       "rows_per_image": round(sum(sizes) / images_timed, 3),
                       "ms_per_image": round(float(np.median([p["alone_ms"].get(name, 0.0) / n for p in passes])), 3),
                       "in_pipeline_ms_per_image": round(float(np.mean(model_ms[name])), 3)}

    def ratio(numerators):
        pairs = [a / b for a, b in zip(numerators, alone_total) if b]
        return round(float(np.median(pairs)), 3) if pairs else None

    return {
        "module": module.name, "mode": getattr(module, "mode", None), "images": n, "repeat": repeat,
        "batch_size": batch_size, "use_gpu": use_gpu, "instances_per_image": round(instances / images_timed, 3),
        "stages_per_image": {s: summary(v) for s, v in per_image.items()},
        "images_per_s": round(images_timed * 1000 / sum(p["pipeline_ms"] for p in passes), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "models_alone": alone,
        "models_alone_ms_per_image": round(float(np.median(alone_total)), 3),
        "pipeline_ms_per_image": round(float(np.median(pipeline)), 3),
        "pipeline_over_models": ratio(pipeline),
        "pipeline_over_models_without_decode": ratio(without_decode),
        "folder_ms_per_image": round(float(np.median(folder)), 3),
        "folder_images_per_s": round(images_timed * 1000 / sum(p["folder_ms"] for p in passes), 2),
        "folder_over_models": ratio(folder),
        "passes": [{"pipeline_ms_per_image": round(a, 3), "decode_ms_per_image": round(a - b, 3),
                    "folder_ms_per_image": round(f, 3), "models_alone_ms_per_image": round(c, 3)}
                   for a, b, f, c in zip(pipeline, without_decode, folder, alone_total)],
        "notes": "stages are per image (chunk time / chunk size) and add up to total; models_alone: after each "
                 "pass, each ONNX session replays that pass's runs (same batch sizes, copies of one real input "
                 "row captured in the pipeline) back to back, ms per image, median over passes; "
                 "in_pipeline_ms_per_image: the same session's mean time inside the pipeline; "
                 "pipeline_over_models: median over passes of end-to-end ms per image / models-alone ms per image "
                 "(_without_decode: the same with the file decoding left out); folder_*: the same images as one "
                 "keypoint_detection(paths=...) call, as `hub run` processes a folder (decoding prefetched on a "
                 "thread), timed in the same passes",
    }


def format_table(report):
    lines = [f"{report['module']}: {report['images']} images x {report['repeat']}, batch {report['batch_size']}, "
             f"{report['instances_per_image']} instances/image",
             f"  {'stage':<16}{'median ms':>12}{'p90 ms':>12}"]
    for stage, s in report["stages_per_image"].items():
        lines.append(f"  {stage:<16}{s['median_ms']:>12.2f}{s['p90_ms']:>12.2f}")
    lines.append(f"  images/s end to end: {report['images_per_s']} image by image, {report['folder_images_per_s']} "
                 f"as a folder (decoding prefetched)   peak RSS: {report['peak_rss_mb']} MB")
    for name, a in report["models_alone"].items():
        lines.append(f"  model {name} {a['input_shape'][1:]}: {a['rows_per_image']} rows/image in "
                     f"{a['runs_per_image']} runs; alone {a['ms_per_image']} ms/image "
                     f"({a['ms_per_row_batch_1']} ms/row at batch 1), in pipeline {a['in_pipeline_ms_per_image']} ms/image")
    lines.append(f"  pipeline / models alone: {report['pipeline_over_models']} "
                 f"({report['pipeline_ms_per_image']} / {report['models_alone_ms_per_image']} ms per image; "
                 f"{report['pipeline_over_models_without_decode']} without the file decoding, "
                 f"{report['folder_over_models']} as a folder)")
    return "\n".join(lines)


def run(name, images=None, max_images=20, batch_size=1, threads=None, repeat=3, use_gpu=False, mode=None,
        backend="onnxruntime"):
    """benchmark() of keypoint module `name` on an image folder (default: a small shared/data set for
    its task), with the machine it ran on."""
    from .evaluate import choose_task
    from .module import Module
    module = Module(name=name, mode=mode, backend=backend, **({"threads": threads} if threads else {}))
    if not hasattr(module, "estimate"):
        raise ValueError(f"{name} is not a keypoint module")
    if images:
        paths = [str(p) for p in imio.list_images(Path(images))[0]][:max_images]
    else:
        paths = default_images(choose_task(module.meta), max_images)
    if not paths:
        raise ValueError(f"no images in {images or SHARED}")
    report = benchmark(module, paths, batch_size, repeat, use_gpu)
    report["backend"] = backend
    report["machine"] = {"cpus": os.cpu_count(), "threads": threads or default_threads(),
                         "processor": platform.processor() or platform.machine()}
    return report


def main(argv=None):
    parser = Parser(prog="hub benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module")
    parser.add_argument("--images", default=None, help="image folder (default: a small shared/data set for the module)")
    parser.add_argument("--max_images", type=int, default=20)
    parser.add_argument("--batch_size", type=positive_int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads per session")
    parser.add_argument("--use_gpu", action="store_true")
    parser.add_argument("--backend", choices=["onnxruntime", "paddle"], default="onnxruntime",
                        help="runtime of the module's networks (paddle: Paddle Inference)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes over the images")
    parser.add_argument("--mode", choices=MODES, default=None, help=MODE_HELP)
    parser.add_argument("--out", default=None, help="write the report JSON here")
    args = parser.parse_args(argv)

    try:
        report = run(args.module, args.images, args.max_images, args.batch_size, args.threads, args.repeat,
                     args.use_gpu, args.mode, args.backend)
    except Exception as e:  # noqa: BLE001 - one clear line for the user
        print(f"hub benchmark: {e}", file=sys.stderr)
        return 1
    emit_report(format_table(report), report, args.out)
    return 0
