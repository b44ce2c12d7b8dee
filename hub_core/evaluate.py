"""`hub eval MODULE --ann ANN --images DIR`: accuracy of a keypoint module on your own annotations.

Annotations: COCO keypoint JSON, a folder of 300-W .pts files (images beside them or in --images), a
DeepLabCut CollectedData_*.csv, or a CMU HandDB folder (label/*.json with "hand_pts_crop", images in data/).
Predictions are matched one-to-one to annotated instances by greedy IoU (>= 0.3) between the annotated box
(its COCO bbox, else the tight box of its keypoints) and the predicted box. A prediction whose box is the
whole frame (whole_image_detector) is ranked by its keypoints' box instead and may take any annotation of
its image. Metrics follow shared/data/METRICS.md: faces NME (inter-ocular), failure rate, AUC@0.08;
hands / animals PCK@0.2 (bbox), AUC (20 thresholds over 30 px), EPE; bodies / animals with sigmas OKS AP.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import metrics, progress
from .annotations import AnnotationError, load_annotations, read_pts  # noqa: F401 - hub eval's readers
from .args import Parser, positive_int
from .matching import match, match_entries  # noqa: F401
from .modes import MODE_HELP, MODES
from .versions import library_versions

TASKS = ("face", "hand", "body", "animal")
FACE_KEYPOINT_COUNTS = (68, 98, 29, 106)


def choose_task(meta):
    """The task a keypoints.json declares; for a file written before it declared one, a guess from its content."""
    if meta.get("task"):
        return meta["task"]
    sigmas = meta.get("sigmas")
    k = meta.get("num_keypoints") or len(meta.get("keypoints", []))
    if (meta.get("normalisation") or {}).get("metric") == "NME" or k in FACE_KEYPOINT_COUNTS:
        return "face"
    if "animal" in str(meta.get("dataset", "")).lower():
        return "animal"
    if sigmas:
        return "body"
    return "hand"


# --- evaluation --------------------------------------------------------------------------
def evaluate(module, data, task=None, boxes="detector", batch_size=1, min_iou=0.3, use_gpu=False,
             keep_matches=False):
    """Run `module` over the annotated images and return the report dict. keep_matches adds
    report["matches"]: one {'image', 'path', 'instance', 'keypoints'} per matched annotation (image index in
    data["images"], annotation index in that image's instances, predicted (K, 2) keypoints as lists)."""
    meta = module.meta
    task = task or choose_task(meta)
    images = data["images"]
    kwargs = {"paths": [im["path"] for im in images], "batch_size": batch_size, "use_gpu": use_gpu}
    if boxes == "gt":
        kwargs["boxes"] = [[inst["box"].tolist() for inst in im["instances"] if not inst["ignore"]] for im in images]
    entries, step = [], max(16, batch_size)  # in chunks, for the progress bar; each chunk batches as one call would
    with progress.bar(len(images), f"hub eval {module.name}") as bar:
        for start in range(0, len(images), step):
            part = {k: v[start:start + step] if k in ("paths", "boxes") else v for k, v in kwargs.items()}
            entries += module.keypoint_detection(**part)
            bar.update(len(part["paths"]))
    matches, scores = score_entries(data, entries, meta, task, boxes, min_iou)
    total = sum(not inst["ignore"] for im in images for inst in im["instances"])
    report = {"module": module.name, "mode": getattr(module, "mode", None), "task": task,
              "annotations": data["file"], "format": data["format"],
              "boxes": boxes, "images": len(images), "instances": total, "matched": len(matches),
              "detection_rate": round(len(matches) / total, 4) if total else None,
              "predicted_instances": sum(len(e.get("instances", [])) for e in entries),
              "unreadable_images": [f"{e['path']}: {e['error']}" for e in entries if e.get("error")],
              "matching": f"greedy one-to-one, IoU >= {min_iou} between annotated box (bbox, else tight keypoint "
                          "box) and predicted box (whole-frame boxes: keypoint box, any IoU)"
                          + ("; given boxes map to their own prediction" if boxes == "gt" else "")}
    report.update(scores)
    if task in ("body", "animal") and meta.get("sigmas"):
        from pycocotools.coco import COCO
        from .coco import to_coco_results
        coco = COCO()
        coco.dataset = data["coco"]
        with _quiet():
            coco.createIndex()
        report["oks"] = metrics.oks_ap(coco, to_coco_results(entries, [im["id"] for im in images]), meta["sigmas"])
    report["per_keypoint"] = report.pop("per_keypoint")  # last: the long table
    if keep_matches:
        report["matches"] = [{**m, "keypoints": m["keypoints"].tolist()} for m in matches]
    return report


def score_entries(data, entries, meta, task, boxes="detector", min_iou=0.3):
    """(matches, score() of the matched pairs) of keypoint_detection() entries, one per image of data in order:
    any pipeline's predictions shaped as entries are scored this way."""
    matches = match_entries(data, entries, boxes, min_iou)
    truths = [data["images"][m["image"]]["instances"][m["instance"]] for m in matches]
    return matches, score(truths, [m["keypoints"] for m in matches], meta, task)


def score(truths, preds, meta, task):
    """Accuracy of matched pairs: truths are annotated instances ('keypoints', 'visible', 'box'), preds the
    (K, 2) predicted keypoints. Faces: NME / failure rate / AUC@0.08; others: PCK@0.2 / AUC; all: EPE,
    and a per_keypoint table."""
    names = meta["keypoints"]
    per_kp = {"name": names}
    report = {}
    if truths:
        gt = np.stack([t["keypoints"] for t in truths])
        visible = np.stack([t["visible"] for t in truths])
        pred = np.stack([np.asarray(p, np.float64).reshape(len(names), 2) for p in preds])
        dist = metrics.distances(pred, gt)
        report["epe_px"] = round(metrics.epe(dist, visible), 4)
        per_kp["epe_px"] = _rounded(metrics.masked_mean(dist, visible), 2)
        if task == "face":
            norm_idx = tuple((meta.get("normalisation") or {}).get("keypoints") or (36, 45))
            nmes = metrics.nme_per_instance(pred, gt, visible, norm_idx)
            nmes = nmes[np.isfinite(nmes)]
            report.update({"nme_normalisation": f"distance of keypoints {list(norm_idx)} (inter-ocular)",
                           "mean_nme_percent": round(float(nmes.mean() * 100), 4),
                           "median_nme_percent": round(float(np.median(nmes) * 100), 4),
                           "failure_rate_percent": round(metrics.failure_rate(nmes, 0.08) * 100, 4),
                           "auc_0.08": round(metrics.nme_auc(nmes, 0.08), 4)})
            per_kp["nme_percent"] = _rounded(metrics.nme_per_keypoint(pred, gt, visible, norm_idx) * 100, 3)
        else:
            norm = metrics.bbox_norm([t["box"] for t in truths])
            report.update({"pck@0.2": round(metrics.pck(dist, visible, norm, 0.2), 4),
                           "auc": round(metrics.auc(dist, visible, 30.0, 20), 4)})
            per_kp["pck@0.2"] = _rounded(metrics.pck_per_keypoint(dist, visible, norm, 0.2), 4)
    report["per_keypoint"] = [dict(zip(per_kp, row)) for row in zip(*per_kp.values())]
    return report


def _rounded(values, digits):
    return [None if not np.isfinite(v) else round(float(v), digits) for v in values]


class _quiet:
    def __enter__(self):
        import contextlib
        import io
        self._ctx = contextlib.redirect_stdout(io.StringIO())
        return self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def format_table(report, worst=10):
    lines = [f"{report['module']} on {report['annotations']} ({report['format']}, task {report['task']}, "
             f"{report['boxes']} boxes)",
             f"  images {report['images']}  instances {report['instances']}  matched {report['matched']}  "
             f"detection rate {report['detection_rate']}"]
    for key in ("mean_nme_percent", "median_nme_percent", "failure_rate_percent", "auc_0.08", "pck@0.2", "auc",
                "epe_px"):
        if key in report:
            lines.append(f"  {key:<22} {report[key]}")
    for key, value in report.get("oks", {}).items():
        lines.append(f"  OKS {key:<18} {value}")
    rows = report["per_keypoint"]
    cols = [c for c in ("nme_percent", "pck@0.2", "epe_px") if rows and c in rows[0]]
    if rows and cols:
        score = cols[0]
        ranked = sorted((r for r in rows if r[score] is not None),
                        key=lambda r: r[score], reverse=score != "pck@0.2")
        lines.append(f"  worst keypoints by {score}:")
        lines.append("    " + f"{'keypoint':<20}" + "".join(f"{c:>12}" for c in cols))
        for r in ranked[:worst]:
            lines.append("    " + f"{r['name']:<20}" + "".join(f"{r[c]:>12}" for c in cols))
    for message in report["unreadable_images"]:
        lines.append(f"  error: {message}")
    return "\n".join(lines)


def parse_option(text):
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"--option takes NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def emit_report(table, report, out=None):
    """The table on stdout, the report as JSON to `out` (hub eval and hub benchmark)."""
    print(table)
    report.setdefault("libraries", library_versions())
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"report written to {out}")


def main(argv=None):
    parser = Parser(prog="hub eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module")
    parser.add_argument("--ann", required=True, help="COCO keypoint .json, a folder of .pts, or DeepLabCut .csv")
    parser.add_argument("--images", default=None, help="image folder (default: beside the annotations)")
    parser.add_argument("--boxes", choices=["detector", "gt"], default="detector",
                        help="detector: the module's own detector; gt: the annotated boxes via boxes=")
    parser.add_argument("--task", choices=TASKS, default=None, help="metric set (default: from the module's meta)")
    parser.add_argument("--option", action="append", type=parse_option, default=[], metavar="NAME=VALUE",
                        help="module constructor option, e.g. --option min_presence=0 (repeatable)")
    parser.add_argument("--mode", choices=MODES, default=None, help=MODE_HELP)
    parser.add_argument("--batch_size", type=positive_int, default=1)
    parser.add_argument("--min_iou", type=float, default=0.3)
    parser.add_argument("--use_gpu", action="store_true")
    parser.add_argument("--out", default=None, help="write the report JSON here")
    args = parser.parse_args(argv)

    from .module import Module
    try:
        module = Module(name=args.module, mode=args.mode, **dict(args.option))
        if not hasattr(module, "meta"):
            raise ValueError(f"{args.module} is not a keypoint module")
        data = load_annotations(args.ann, args.images, len(module.meta["keypoints"]), module.meta["keypoints"])
        report = evaluate(module, data, args.task, args.boxes, args.batch_size, args.min_iou, args.use_gpu)
    except Exception as e:  # noqa: BLE001 - one clear line for the user
        print(f"hub eval: {e}", file=sys.stderr)
        return 1
    emit_report(format_table(report), report, args.out)
    return 0
