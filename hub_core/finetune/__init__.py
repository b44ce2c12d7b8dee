"""`hub finetune`: train a top-down keypoint model for any K keypoints on your labels and write an installable
module folder. Needs the train extra: pip install -e ".[train]" (torch, onnx)."""
import argparse
import json
import re
import sys
import time
from pathlib import Path

DETECTORS = {"image": "whole_image_detector", "box": "yolox_nano_coco"}


def parse_size(text):
    m = re.fullmatch(r"(\d+)x(\d+)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"--input_size takes WIDTHxHEIGHT, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def build_parser():
    p = argparse.ArgumentParser(prog="hub finetune", description=__doc__)
    p.add_argument("--ann", required=True, help="COCO keypoint .json or DeepLabCut CollectedData_*.csv")
    p.add_argument("--images", default=None, help="image folder (default: beside the annotations)")
    p.add_argument("--keypoints", required=True, help="keypoint meta JSON: keypoints (names), skeleton, flip_pairs, ...")
    p.add_argument("--out", required=True, help="folder of the new module (its name is the module name)")
    p.add_argument("--name", default=None, help="module name (default: the --out folder's name)")
    p.add_argument("--base", default="human_pose_estimation",
                   help="module whose heatmap ONNX model is the starting network (default PP-TinyPose)")
    p.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=True,
                   help="start from the base model's weights (--no-pretrained: same network, random weights)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--input_size", type=parse_size, default=(256, 256), help="WIDTHxHEIGHT, multiples of 32")
    p.add_argument("--crop", choices=["image", "box"], default=None,
                   help="image: whole frames (single animal; module detector whole_image_detector); box: annotated "
                        "boxes x1.25 (detector yolox_nano_coco, animal classes). Default: box for COCO, else image")
    p.add_argument("--rotation", type=float, default=30.0, help="max random rotation, degrees")
    p.add_argument("--scale", type=float, default=0.25, help="random scale range 1 +/- this")
    p.add_argument("--val_split", type=float, default=0.2, help="fraction (< 1) or number of validation images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None, help="use only the first N labelled images (quick tries)")
    p.add_argument("--license", default="see the training data's and the base model's licences")
    p.add_argument("--use_gpu", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def run(args, log=print):
    """Train, export and write the module; returns a summary dict."""
    try:
        import torch  # noqa: F401
        import onnx  # noqa: F401
    except ImportError as e:
        raise RuntimeError(f"hub finetune needs torch and onnx ({e}); install them with pip install -e \".[train]\"") from None
    from ..evaluate import choose_task
    from ..module import Module
    from . import data, export, train

    meta = json.loads(Path(args.keypoints).read_text())
    if "keypoints" not in meta:
        raise ValueError(f"{args.keypoints}: needs a 'keypoints' list of names")
    meta.setdefault("num_keypoints", len(meta["keypoints"]))
    meta.setdefault("task", choose_task(meta))
    crop = args.crop or ("box" if Path(args.ann).suffix.lower() == ".json" else "image")
    padding = 1.0 if crop == "image" else 1.25
    samples, images, fmt = data.load_samples(args.ann, args.images, meta, crop)
    if args.limit:
        samples = [s for s in samples if s["image"] < args.limit]
    train_idx, val_idx = data.split(samples, args.val_split, args.seed)
    base = Module(name=args.base)
    base_key = next(iter(base.model_files))
    base_onnx = base.source_path(base_key)
    out = Path(args.out)
    name = args.name or out.resolve().name
    (out / "models").mkdir(parents=True, exist_ok=True)
    log(f"hub finetune: {len(train_idx)} training / {len(val_idx)} validation instances, {len(meta['keypoints'])} "
        f"keypoints, base {args.base} ({base_onnx.name}), {'pretrained' if args.pretrained else 'random'} start")
    started = time.perf_counter()
    model, history, best = train.train(
        samples, images, meta, base_onnx, train_idx, val_idx, args.input_size, padding, args.pretrained,
        args.epochs, args.batch_size, args.lr, args.seed, args.rotation, args.scale, use_gpu=args.use_gpu,
        progress=not args.quiet, log=log)
    train_seconds = time.perf_counter() - started
    onnx_path = out / "models" / f"{name}.onnx"
    max_diff = export.export_onnx(model, onnx_path, args.input_size)
    detector = DETECTORS[crop]
    size_text = f"{args.input_size[0]}x{args.input_size[1]}"
    recipe = {"network": f"{args.base} ONNX graph ({base_onnx.name}) run in torch, new {len(meta['keypoints'])}-channel "
                         f"heatmap head" + ("" if args.pretrained else ", all weights re-initialised (from scratch)"),
              "pretrained": args.pretrained, "input_size": size_text, "epochs": args.epochs,
              "batch_size": args.batch_size, "optimiser": f"AdamW lr {args.lr}, wd 1e-4, warm-up + cosine",
              "loss": "heatmap MSE (gaussian sigma 2 cells) weighted by visibility",
              "augmentation": f"scale 1+/-{args.scale}, rotation +/-{args.rotation} deg, horizontal flip 0.5 with "
                              "flip pairs, brightness/contrast/saturation +/-0.2",
              "seed": args.seed, "training time": f"{train_seconds:.0f} s ({'GPU' if args.use_gpu else 'CPU'})"}
    frames = len({s["image"] for s in samples})
    data_info = {"ann": args.ann, "images": args.images or "beside the annotations", "format": fmt,
                 "instances": len(samples), "frames": frames, "train": len(train_idx), "val": len(val_idx),
                 "crop_text": "the whole image, padded to the input's aspect (whole_image_detector at run time)"
                 if crop == "image" else "the annotated box x1.25 about its centre, padded to the input's aspect"}
    spec = {"file": onnx_path.name, "sha256": "", "size": 0, "license": args.license}
    from .. import store
    spec.update(sha256=store.sha256_of(onnx_path), size=onnx_path.stat().st_size)
    card = export.model_card(name, meta, spec, data_info, recipe, history, best, max_diff, detector)
    summary = f"{len(meta['keypoints'])} keypoints ({', '.join(meta['keypoints'][:6])}" + \
              ("…" if len(meta["keypoints"]) > 6 else "") + ") from `hub finetune`."
    export.write_module(out, name, meta, onnx_path, detector, padding, card, args.license, summary)
    log(f"module {name} written to {out} (model {spec['size'] / 1e6:.1f} MB, best epoch {best['epoch']}); "
        f"install it with: hub install {out}")
    return {"name": name, "folder": str(out), "history": history, "best": best, "onnx": str(onnx_path),
            "sha256": spec["sha256"], "max_diff": max_diff, "train_seconds": train_seconds,
            "train_idx": train_idx, "val_idx": val_idx}


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except Exception as e:  # noqa: BLE001 - one clear line for the user
        print(f"hub finetune: {e}", file=sys.stderr)
        return 1
    return 0
