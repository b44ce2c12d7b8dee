"""The `hub` command."""
import argparse
import json
import os
import sys
import traceback
import warnings
from pathlib import Path

from . import __version__, aliases, images as imio, install as inst, modes, sinks
from .args import Parser, non_negative_int, positive_int
from .errors import HubError
from .infer import infer as infer_stream, is_keypoint_module, sources
from .module import Module, available, installed_dir, read_metadata, unknown_module


def _fail(message, code=1):
    print(f"hub: {message}", file=sys.stderr)
    return code


def cmd_list(args):
    rows = []
    for name, folder in available().items():
        meta = read_metadata(folder)
        where = "installed" if folder.parent == installed_dir() else "bundled"
        rows.append((name, meta["version"], meta["type"], where))
    if args.json:
        print(json.dumps([dict(zip(("name", "version", "type", "source"), r)) for r in rows], indent=2))
        return 0
    width = max((len(r[0]) for r in rows), default=0)
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:<8}  {r[2]:<20}  {r[3]}")
    return 0


def cmd_show(args):
    folder = available().get(aliases.resolve(args.module))
    if folder is None:
        raise unknown_module(args.module)
    info = read_metadata(folder)
    info["directory"] = str(folder)
    for spec in info["model_files"].values():
        spec["how_to_get"] = how_to_get(spec)
    if "modes" in info:  # module.json's default_mode and modes, shown together
        info["mode"] = {"default": info.pop("default_mode", "balanced"), "modes": info.pop("modes")}
    meta = folder / "keypoints.json"
    if meta.is_file():
        kp = json.loads(meta.read_text())
        info["keypoints"] = {"dataset": kp.get("dataset"), "num_keypoints": kp.get("num_keypoints"),
                             "names": kp.get("keypoints")}
    print(json.dumps(info, indent=2))
    return 0


def how_to_get(spec):
    if spec.get("url"):
        return "downloaded from its public URL on first use (checksum checked), or from a mirror"
    if spec.get("converted"):
        return ("converted for keypoint-hub, no public URL: from a mirror folder (HUB_MODEL_MIRRORS) or a "
                "`hub download` bundle made on a machine that has it")
    return "shipped in the module folder"


def cmd_install(args):
    for source in args.source:
        name, version, dest = inst.install(source)
        print(f"installed {name} {version} in {dest}")
    return 0


def cmd_uninstall(args):
    inst.uninstall(args.module)
    print(f"uninstalled {args.module}")
    return 0


def cmd_download(args):
    dest = inst.download(aliases.resolve(args.module), args.output_dir)
    print(f"{args.module} with its detector modules and model files in {dest} "
          f"(copy it over, then `hub install {dest}`)")
    return 0


def cmd_checksum(args):
    """The model_files entry of module.json for each file: name, sha256 and size (origin, licence and
    url are the author's to fill in)."""
    from . import store
    specs = {}
    for path in map(Path, args.files):
        if not path.is_file():
            raise HubError(f"{path}: no such file")
        specs[path.stem] = {"file": path.name, "sha256": store.sha256_of(path), "size": path.stat().st_size,
                            "url": None, "origin": "", "license": "", "converted": False}
    print(json.dumps(specs, indent=2))
    return 0


def input_paths(path):
    """Image paths for --input_path: one image, or a folder's images (others reported, skipped)."""
    p = Path(path)
    if p.is_dir():
        files, others = imio.list_images(p)
        for o in others:
            print(f"hub: skipping {o}: not an image file", file=sys.stderr)
        if not files:
            raise HubError(f"{path}: folder has no image files")
        return [str(f) for f in files]
    if not p.exists():
        raise HubError(f"{path}: no such file or folder")
    return [str(p)]


def cmd_run(args):
    if args.show_alias:
        print(aliases.table())
        return 0
    if args.input and args.input_path:
        return _fail("give the input once: as an argument or as --input_path")
    args.input_path = args.input_path or args.input
    if not args.module or not args.input_path:
        return _fail("run needs a MODULE (or an alias, see --show_alias) and an input (or --input_path)")
    if args.engine == "ray":
        return _run_ray(args)
    if args.output_format == "parquet" or args.resume or args.address:
        return _fail("--output_format parquet, --resume and --address go with --engine ray")
    args.batch_size = args.batch_size or 1
    module = Module(name=args.module, backend=args.backend, **({"mode": args.mode} if args.mode else {}))
    if not is_keypoint_module(module):
        return _run_plain(args, module)
    return _run_keypoints(args, module, sources(args.input_path))


def _run_ray(args):
    """--engine ray: the whole job on a Ray cluster, results in --output_dir (hub_core/ray.py)."""
    from .aliases import resolve
    from .ray import run as run_on_ray
    if not args.output_dir:
        return _fail("--engine ray writes its results to --output_dir: give one")
    local_only = [flag for flag, on in (("--visualization", args.visualization), ("--save_predictions",
                  args.save_predictions), ("--det_every", args.det_every != 1), ("--smooth", args.smooth)) if on]
    if local_only:
        return _fail(f"{', '.join(local_only)}: not with --engine ray (it writes rows, see the README's Scale-out)")
    summary = run_on_ray(resolve(args.module), args.input_path, args.output_dir, address=args.address,
                         num_workers=args.num_workers, threads_per_worker=args.threads_per_worker,
                         gpus_per_worker=args.gpus_per_worker or (1 if args.use_gpu else 0),
                         batch_size=args.batch_size, output_format=args.output_format or "jsonl",
                         resume=args.resume, progress=not args.quiet)
    print(f"hub: {summary['rows']} rows ({summary['errors']} errors) in {args.output_dir}", file=sys.stderr)
    return 1 if summary["errors"] else 0


def _run_plain(args, module):
    """Modules without keypoints (detectors): images and folders through module.predict()."""
    kwargs = {"paths": input_paths(args.input_path), "batch_size": args.batch_size, "use_gpu": args.use_gpu,
              "visualization": args.visualization}
    if args.output_dir:
        kwargs["output_dir"] = args.output_dir
    results = module.predict(**kwargs)
    if not args.quiet:
        print(json.dumps(results, indent=None if args.compact else 1))
    errors = [r["error"] for r in results if r.get("error")]
    for message in errors:
        print(f"hub: {message}", file=sys.stderr)
    return 1 if errors else 0


def build_sinks(args, module, srcs):
    """The writers for this run, from the arguments. Results go to files under the output folder
    (predictions/ and visualizations/, or the folder itself for plain --visualization of images) and
    then stdout gets one summary line per input; otherwise stdout gets the results."""
    has_video = any(s.kind in ("video", "webcam") for s in srcs)
    out = args.output_dir
    if out is None and args.visualization:
        out = module.default_output_dir
        print(f"hub: drawing into {Path(out).resolve()} (--output_dir to choose)", file=sys.stderr)
    layout = out is not None and (args.save_predictions or args.output_format is not None or has_video)
    fmt = args.output_format or "json"
    writers = []
    if args.visualization:
        style = {k: getattr(args, k) for k in ("radius", "thickness", "kpt_thr", "bbox_thr", "draw_bbox",
                                               "black_background", "show_kpt_idx", "skeleton_style", "world_view")
                 if getattr(args, k) is not None}
        fps = {s.path: s.info.get("fps", 30.0) for s in srcs if s.kind in ("video", "webcam")}
        writers.append(sinks.Visualizations(Path(out) / "visualizations" if layout else out, module.meta, style, fps))
    if layout and fmt == "coco":
        writers.append(sinks.CocoResults(Path(out) / "predictions" / "coco_results.json"))
    elif layout:
        writers.append(sinks.Predictions(Path(out) / "predictions", fmt))
    if args.quiet:
        return writers
    if writers:
        writers.append(sinks.SummaryLines())
    elif fmt == "coco":
        writers.append(sinks.CocoResults())
    else:
        writers.append(sinks.StdoutJson(lines=fmt == "jsonl", compact=args.compact))
    return writers


def _run_keypoints(args, module, srcs):
    """Keypoint modules: any input of hub.infer(), each result handed to every sink."""
    from tqdm import tqdm

    writers = build_sinks(args, module, srcs)
    total = sum(s.info.get("frame_count", 0) if s.kind in ("video", "webcam") else 1 for s in srcs)
    bar = tqdm(total=total or None, unit="img", file=sys.stderr, disable=args.quiet or not sys.stderr.isatty())
    errors = 0
    try:
        for _, entry, image in infer_stream(
                module, [s.item for s in srcs], batch_size=args.batch_size, det_every=args.det_every,
                smooth=args.smooth, smooth_min_cutoff=args.smooth_min_cutoff, smooth_beta=args.smooth_beta,
                with_images=True, use_gpu=args.use_gpu):
            bar.update(1)
            if entry.get("error"):
                errors += 1
                print(f"hub: {entry['error']}", file=sys.stderr)
            for writer in writers:
                writer.write(entry, image)
    finally:
        bar.close()
        for writer in writers:
            writer.close()
    return 1 if errors else 0


def cmd_serving(args):
    from .serving.launcher import main as serving_main
    return serving_main(args.serving_args)


def cmd_eval(args):
    from .evaluate import main as eval_main
    return eval_main(args.rest)


def cmd_benchmark(args):
    from .bench import main as bench_main
    return bench_main(args.rest)


def cmd_finetune(args):
    from .finetune import main as finetune_main
    return finetune_main(args.rest)


def cmd_version(args):
    print(f"keypoint-hub {__version__}")
    return 0


def build_parser():
    parser = Parser(prog="hub", description="keypoint-hub: keypoint detection modules")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run a module on images, a folder, a glob, a video, a webcam or a URL")
    p.add_argument("module", nargs="?", help="module name or alias (face, hand, human, body, animal)")
    p.add_argument("input", nargs="?", help="the same as --input_path")
    p.add_argument("--input_path", help="image, folder, glob, video file, webcam[:N] or http(s) image URL")
    p.add_argument("--show_alias", action="store_true", help="list the aliases and exit")
    p.add_argument("--batch_size", type=positive_int, default=None, help="images per model call (default 1)")
    p.add_argument("--mode", choices=modes.MODES, default=None, help=modes.MODE_HELP)
    p.add_argument("--use_gpu", action="store_true")
    p.add_argument("--backend", choices=["onnxruntime", "paddle"], default="onnxruntime",
                   help="runtime of the module's networks (paddle: Paddle Inference, pip install -e \".[paddle]\")")
    p.add_argument("--visualization", action="store_true",
                   help="write annotated images / MP4 to --output_dir (default: the module's output folder)")
    p.add_argument("--save_predictions", action="store_true", help="write --output_dir/predictions/")
    p.add_argument("--output_dir", default=None)
    p.add_argument("--output_format", choices=["json", "jsonl", "coco", "parquet"], default=None)
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    p.add_argument("--quiet", action="store_true", help="no stdout results, no progress bar")
    g = p.add_argument_group("drawing")
    g.add_argument("--radius", type=non_negative_int, default=None)
    g.add_argument("--thickness", type=non_negative_int, default=None)
    g.add_argument("--kpt_thr", type=float, default=None)
    g.add_argument("--bbox_thr", type=float, default=None)
    g.add_argument("--draw_bbox", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--black_background", action="store_true", default=None)
    g.add_argument("--show_kpt_idx", action="store_true", default=None)
    g.add_argument("--skeleton_style", choices=["mmpose", "openpose"], default=None)
    g.add_argument("--world_view", action="store_true", default=None, help="a small 3D view of hands' world keypoints")
    g = p.add_argument_group("video")
    g.add_argument("--det_every", type=positive_int, default=1, help="run the detector every N frames, track in between")
    g.add_argument("--smooth", action="store_true", help="One-Euro smoothing of keypoints per track")
    g.add_argument("--smooth_min_cutoff", type=float, default=1.0)
    g.add_argument("--smooth_beta", type=float, default=0.007)
    g = p.add_argument_group("cluster (--engine ray; pip install 'keypoint-hub[ray]')")
    g.add_argument("--engine", choices=["local", "ray"], default="local", help="local: this process (default)")
    g.add_argument("--address", default=None, help="Ray cluster address; default: a local cluster, auto: the running one")
    g.add_argument("--num_workers", default="1", help="workers, each holding the module: N or MIN:MAX (autoscaled)")
    g.add_argument("--threads_per_worker", type=positive_int, default=1, help="CPUs (ONNX Runtime threads) per worker")
    g.add_argument("--gpus_per_worker", type=float, default=0, help="GPUs per worker (runs use_gpu=True)")
    g.add_argument("--resume", action="store_true", help="finish the job in --output_dir, skipping finished shards")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("list", help="list bundled and installed modules")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("show", help="a module's metadata, model files and keypoints")
    p.add_argument("module")
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("install", help="install a module: bundled NAME, a folder or a .tar.gz")
    p.add_argument("source", nargs="+")
    p.set_defaults(func=cmd_install)
    p = sub.add_parser("uninstall", help="remove an installed module")
    p.add_argument("module")
    p.set_defaults(func=cmd_uninstall)
    p = sub.add_parser("download", help="copy a module and its weights into a folder (air-gapped installs)")
    p.add_argument("module")
    p.add_argument("--output_dir", default=".")
    p.set_defaults(func=cmd_download)
    p = sub.add_parser("checksum", help="sha256 and size of model files, as module.json model_files entries")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_checksum)
    p = sub.add_parser("serving", help="serving start -m MODULE ... | serving stop -p PORT", add_help=False,
                       prefix_chars="\0")  # every argument, --help included, goes to the serving launcher
    p.add_argument("serving_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_serving)
    p = sub.add_parser("eval", help="accuracy of a module on your annotations (hub eval MODULE --ann ... --images ...)",
                       add_help=False, prefix_chars="\0")  # every argument, --help included, goes to hub eval
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("benchmark", help="per-stage speed of a module on this machine", add_help=False,
                       prefix_chars="\0")  # every argument, --help included, goes to hub benchmark
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_benchmark)
    p = sub.add_parser("finetune", help="train a keypoint module on your labels (hub finetune --ann ... --out DIR)",
                       add_help=False, prefix_chars="\0")  # every argument goes to hub_core.finetune
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_finetune)
    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=cmd_version)
    p = sub.add_parser("help", help="show this help")
    p.set_defaults(func=lambda a: parser.print_help() or 0)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = lambda message, *_, **__: print(f"hub: {message}", file=sys.stderr)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except BrokenPipeError:
        # The reader went away (`hub list | head`): stop quietly, and keep Python's exit-time
        # flush of stdout from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as e:  # noqa: BLE001 - one line for the user, the traceback with --debug
        if args.debug:
            traceback.print_exc()
        message = str(e) if isinstance(e, HubError) else f"{type(e).__name__}: {e}"
        hint = "" if args.debug or isinstance(e, HubError) else " (--debug shows the traceback)"
        return _fail(message + hint)


if __name__ == "__main__":
    sys.exit(main())
