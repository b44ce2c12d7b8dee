"""The `hub` command."""
import argparse
import json
import sys
from pathlib import Path

from . import __version__, images as imio, install as inst
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
    try:
        paths = input_paths(args.input_path)
        module = Module(name=args.module)
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
    print(json.dumps(results, indent=None if args.compact else 1))
    errors = [r["error"] for r in results if r.get("error")]
    for message in errors:
        print(f"hub: {message}", file=sys.stderr)
    return 1 if errors else 0


def cmd_serving(args):
    from serving.launcher import main as serving_main
    return serving_main(args.serving_args)


def cmd_eval(args):
    from .evaluate import main as eval_main
    return eval_main(args.rest)


def cmd_benchmark(args):
    from .bench import main as bench_main
    return bench_main(args.rest)


def cmd_version(args):
    print(f"keypoint-hub {__version__}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="hub", description="keypoint-hub: keypoint detection modules")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run a module on an image or a folder, print JSON")
    p.add_argument("module")
    p.add_argument("--input_path", required=True, help="an image file or a folder of images")
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--use_gpu", action="store_true")
    p.add_argument("--visualization", action="store_true", help="write annotated images to --output_dir")
    p.add_argument("--output_dir", default=None)
    p.add_argument("--compact", action="store_true", help="one-line JSON")
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
