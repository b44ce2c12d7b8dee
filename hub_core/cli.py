"""The `hub` command."""
import argparse
import json
import sys
from pathlib import Path


from . import __version__, aliases, draw, images as imio, install as inst, video
from .infer import infer as infer_stream, is_keypoint_module, sources
from .coco import to_coco_results
from .module import Module, available, installed_dir, load_class


def _fail(message, code=1):
    print(f"hub: {message}", file=sys.stderr)
    return code


def cmd_list(args):
    rows = []
    for name, folder in available().items():
        cls = load_class(folder)
        where = "installed" if folder.parent == installed_dir() else "bundled"
        rows.append((name, cls.version, cls.type, where))
    if args.json:
        print(json.dumps([dict(zip(("name", "version", "type", "source"), r)) for r in rows], indent=2))
        return 0
    width = max(len(r[0]) for r in rows)
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:<8}  {r[2]:<20}  {r[3]}")
    return 0


def cmd_show(args):
    folder = available().get(args.module)
    if folder is None:
        return _fail(f"unknown module {args.module!r}; see `hub list`")
    info = load_class(folder).info()
    info["directory"] = str(folder)
    meta = folder / "keypoints.json"
    if meta.is_file():
        kp = json.loads(meta.read_text())
        info["keypoints"] = {"dataset": kp.get("dataset"), "num_keypoints": kp.get("num_keypoints"),
                             "names": kp.get("keypoints")}
    print(json.dumps(info, indent=2))
    return 0


def cmd_install(args):
    for source in args.source:
        try:
            name, version, dest = inst.install(source)
        except Exception as e:
            return _fail(f"install {source}: {e}")
        print(f"installed {name} {version} in {dest}")
    return 0


def cmd_uninstall(args):
    try:
        inst.uninstall(args.module)
    except ValueError as e:
        return _fail(str(e))
    print(f"uninstalled {args.module}")
    return 0


def cmd_download(args):
    try:
        dest = inst.download(args.module, args.output_dir)
    except Exception as e:
        return _fail(f"download {args.module}: {e}")
    print(f"{args.module} with its model files in {dest} (copy it over, then `hub install {dest}`)")
    return 0


def input_paths(path):
    """Image paths for --input_path: one image, or a folder's images (others reported, skipped)."""
    p = Path(path)
    if p.is_dir():
        files, others = imio.list_images(p)
        for o in others:
            print(f"hub: skipping {o}: not an image file", file=sys.stderr)
        if not files:
            raise ValueError(f"{path}: folder has no image files")
        return [str(f) for f in files]
    if not p.exists():
        raise ValueError(f"{path}: no such file or folder")
    return [str(p)]


def cmd_run(args):
    if args.show_alias:
        print(aliases.table())
        return 0
    if not args.module or not args.input_path:
        return _fail("run needs a MODULE (or an alias, see --show_alias) and --input_path")
    name = aliases.resolve(args.module)
    try:
        module = Module(name=name)
        srcs = None if not is_keypoint_module(module) else sources(args.input_path)
    except Exception as e:
        return _fail(str(e))
    if srcs is None:
        return _run_plain(args, module)
    return _run_keypoints(args, module, srcs)


def _run_plain(args, module):
    """Modules without keypoints (detectors): images and folders through module.predict()."""
    try:
        paths = input_paths(args.input_path)
    except Exception as e:
        return _fail(str(e))
    kwargs = {"paths": paths, "batch_size": args.batch_size, "use_gpu": args.use_gpu,
              "visualization": args.visualization}
    if args.output_dir:
        kwargs["output_dir"] = args.output_dir
    try:
        results = module.predict(**kwargs)
    except Exception as e:
        return _fail(f"{args.module}: {e}")
    if not args.quiet:
        print(json.dumps(results, indent=None if args.compact else 1))
    errors = [r["error"] for r in results if r.get("error")]
    for message in errors:
        print(f"hub: {message}", file=sys.stderr)
    return 1 if errors else 0


def _run_keypoints(args, module, srcs):
    """Keypoint modules: any input of hub.infer(); predictions / drawings streamed to --output_dir."""
    from tqdm import tqdm

    has_video = any(s.kind in ("video", "webcam") for s in srcs)
    layout = bool(args.output_dir) and (args.save_predictions or args.output_format is not None or has_video)
    fmt = args.output_format or "json"
    out = Path(args.output_dir) if args.output_dir else None
    save_predictions = layout  # a video with --output_dir always gets its JSONL
    pred_dir, vis_dir = (out / "predictions", out / "visualizations") if layout else (None, out)
    visualize = args.visualization and out is not None
    style = {k: getattr(args, k) for k in ("radius", "thickness", "kpt_thr", "bbox_thr", "draw_bbox",
                                           "black_background", "show_kpt_idx", "skeleton_style")
             if getattr(args, k) is not None}
    fps = {s.path: s.info.get("fps", 30.0) for s in srcs if s.kind in ("video", "webcam")}
    total = sum(s.info.get("frame_count", 0) if s.kind in ("video", "webcam") else 1 for s in srcs)
    bar = tqdm(total=total or None, unit="img", file=sys.stderr, disable=args.quiet or not sys.stderr.isatty())
    stdout_entries, coco, errors, used_pred, used_vis = [], [], 0, set(), set()
    streams = {}  # video path -> (jsonl file, VideoWriter)

    def close_streams():
        for jsonl, writer in streams.values():
            jsonl and jsonl.close()
            writer and writer.close()
        streams.clear()

    kwargs = {"use_gpu": args.use_gpu}
    try:
        for index, (name, entry, image) in enumerate(infer_stream(
                module, srcs_input(srcs), batch_size=args.batch_size, det_every=args.det_every, smooth=args.smooth,
                smooth_min_cutoff=args.smooth_min_cutoff, smooth_beta=args.smooth_beta, with_images=True, **kwargs)):
            bar.update(1)
            if entry.get("error"):
                errors += 1
                print(f"hub: {entry['error']}", file=sys.stderr)
            is_frame = "frame_id" in entry
            if is_frame and entry["path"] not in streams:
                close_streams()
                stem = Path(str(entry["path"])).stem if not str(entry["path"]).startswith("webcam") else "webcam"
                jsonl = None
                if save_predictions and fmt != "coco":
                    pred_dir.mkdir(parents=True, exist_ok=True)
                    jsonl = open(pred_dir / f"{stem}.jsonl", "w")
                writer = video.VideoWriter(vis_dir / f"{stem}.mp4", fps[entry["path"]]) if visualize else None
                streams[entry["path"]] = (jsonl, writer)
            if fmt == "coco":
                coco += to_coco_results([entry], [entry["frame_id"] if is_frame else _image_id(entry, index)])
            if is_frame:
                jsonl, writer = streams[entry["path"]]
                if jsonl:
                    jsonl.write(json.dumps(entry) + "\n")
                elif not save_predictions and not args.quiet and fmt != "coco":
                    print(json.dumps(entry), flush=True)
                if writer and image is not None:
                    writer.write(draw.draw(image, entry, module.meta, **style))
                continue
            if save_predictions and fmt == "json":
                pred_dir.mkdir(parents=True, exist_ok=True)
                target = draw.unique_path(pred_dir, Path(str(entry.get("path") or f"image_{index}")).stem, ".json", used_pred)
                target.write_text(json.dumps(entry))
            elif save_predictions and fmt == "jsonl":
                pred_dir.mkdir(parents=True, exist_ok=True)
                with open(pred_dir / "predictions.jsonl", "a" if used_pred else "w") as f:
                    f.write(json.dumps(entry) + "\n")
                used_pred.add("predictions.jsonl")
            if visualize and image is not None and not entry.get("error"):
                entry["save_path"] = draw.save(draw.draw(image, entry, module.meta, **style), vis_dir,
                                               entry.get("path") or f"image_{index}", used_vis)
            if not args.quiet:
                stdout_entries.append(entry)
    except Exception as e:
        return _fail(f"{args.module}: {e}")
    finally:
        close_streams()
        bar.close()
    if fmt == "coco" and save_predictions:
        pred_dir.mkdir(parents=True, exist_ok=True)
        (pred_dir / "coco_results.json").write_text(json.dumps(coco))
    if not args.quiet:
        if fmt == "coco" and not save_predictions:
            print(json.dumps(coco))
        elif fmt == "jsonl":
            for entry in stdout_entries:
                print(json.dumps(entry))
        elif stdout_entries or not has_video:
            print(json.dumps(stdout_entries, indent=None if args.compact else 1))
    return 1 if errors else 0


def srcs_input(srcs):
    """Expanded sources back to what hub.infer() takes (already checked, so no second warning)."""
    return [s.item for s in srcs]


def _image_id(entry, index):
    stem = Path(str(entry.get("path") or "")).stem
    return int(stem) if stem.isdigit() else index


def cmd_serving(args):
    from serving.launcher import main as serving_main
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
    parser = argparse.ArgumentParser(prog="hub", description="keypoint-hub: keypoint detection modules")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run a module on images, a folder, a glob, a video, a webcam or a URL")
    p.add_argument("module", nargs="?", help="module name or alias (face, hand, human, body, animal)")
    p.add_argument("--input_path", help="image, folder, glob, video file, webcam[:N] or http(s) image URL")
    p.add_argument("--show_alias", action="store_true", help="list the aliases and exit")
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--use_gpu", action="store_true")
    p.add_argument("--visualization", action="store_true", help="write annotated images / MP4 to --output_dir")
    p.add_argument("--save_predictions", action="store_true", help="write --output_dir/predictions/")
    p.add_argument("--output_dir", default=None)
    p.add_argument("--output_format", choices=["json", "jsonl", "coco"], default=None)
    p.add_argument("--compact", action="store_true", help="one-line JSON")
    p.add_argument("--quiet", action="store_true", help="no stdout results, no progress bar")
    g = p.add_argument_group("drawing")
    g.add_argument("--radius", type=int, default=None)
    g.add_argument("--thickness", type=int, default=None)
    g.add_argument("--kpt_thr", type=float, default=None)
    g.add_argument("--bbox_thr", type=float, default=None)
    g.add_argument("--draw_bbox", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--black_background", action="store_true", default=None)
    g.add_argument("--show_kpt_idx", action="store_true", default=None)
    g.add_argument("--skeleton_style", choices=["mmpose", "openpose"], default=None)
    g = p.add_argument_group("video")
    g.add_argument("--det_every", type=int, default=1, help="run the detector every N frames, track in between")
    g.add_argument("--smooth", action="store_true", help="One-Euro smoothing of keypoints per track")
    g.add_argument("--smooth_min_cutoff", type=float, default=1.0)
    g.add_argument("--smooth_beta", type=float, default=0.007)
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
    p = sub.add_parser("serving", help="serving start -m MODULE ... | serving stop -p PORT", add_help=False,
                       prefix_chars="\0")  # every argument, --help included, goes to the serving launcher
    p.add_argument("serving_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_serving)
    p = sub.add_parser("eval", help="accuracy of a module on your annotations (hub eval MODULE --ann ... --images ...)",
                       add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("benchmark", help="per-stage speed of a module on this machine", add_help=False)
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
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
