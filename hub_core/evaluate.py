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
import csv
import json
import sys
from pathlib import Path

import numpy as np

from . import metrics
from .args import Parser, positive_int
from .errors import HubError
from .versions import library_versions
from .geometry import iou_one_to_many
from .modes import MODE_HELP, MODES

TASKS = ("face", "hand", "body", "animal")
FACE_KEYPOINT_COUNTS = (68, 98, 29, 106)


class AnnotationError(HubError, ValueError):
    """A malformed annotation file; the message names the file and the field."""


# --- annotation readers ------------------------------------------------------------------
def load_annotations(ann, images_dir=None, num_keypoints=None, keypoint_names=None):
    """{'file', 'format', 'images': [{'id', 'path', 'instances': [{'keypoints' (K,2), 'visible' (K,),
    'box' xyxy, 'bbox' xywh, 'area', 'ignore'}]}], 'coco': COCO-format dict (for OKS)}."""
    ann = Path(ann)
    if not ann.exists():
        raise AnnotationError(f"{ann}: no such file or folder")
    if ann.is_dir() and (ann / "label").is_dir() and not any(ann.glob("*.pts")):
        data = _read_cmu_hand_folder(ann, images_dir, num_keypoints)
    elif ann.is_dir():
        data = _read_pts_folder(ann, images_dir, num_keypoints)
    elif ann.suffix.lower() == ".csv":
        data = _read_dlc_csv(ann, images_dir, num_keypoints, keypoint_names)
    elif ann.suffix.lower() == ".json":
        data = _read_coco(ann, images_dir, num_keypoints)
    elif ann.suffix.lower() == ".pts":
        data = _read_pts_files([ann], ann.parent, images_dir, num_keypoints)
    else:
        raise AnnotationError(f"{ann}: unknown annotation format (expected COCO .json, a .pts folder, a "
                              "DeepLabCut CollectedData_*.csv or a CMU HandDB folder with label/)")
    if data.get("coco") is None:
        data["coco"] = _as_coco(data["images"])
    return data


def _read_coco(path, images_dir, num_keypoints):
    try:
        coco = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(coco, dict):
        raise AnnotationError(f"{path}: top level must be an object with 'images' and 'annotations'")
    for field in ("images", "annotations"):
        if not isinstance(coco.get(field), list):
            raise AnnotationError(f"{path}: field '{field}' is missing or not a list")
    root = Path(images_dir) if images_dir else path.parent
    images, by_id = [], {}
    for i, im in enumerate(coco["images"]):
        for field in ("id", "file_name"):
            if not isinstance(im, dict) or field not in im:
                raise AnnotationError(f"{path}: images[{i}].{field} is missing")
        entry = {"id": im["id"], "path": str(_find_image(root, im["file_name"], path.parent)), "instances": []}
        by_id[im["id"]] = entry
        images.append(entry)
    for i, a in enumerate(coco["annotations"]):
        where = f"{path}: annotations[{i}]"
        if not isinstance(a, dict):
            raise AnnotationError(f"{where} is not an object")
        if a.get("image_id") not in by_id:
            raise AnnotationError(f"{where}.image_id {a.get('image_id')!r} is missing or names no image")
        kp = a.get("keypoints")
        if not isinstance(kp, list) or len(kp) % 3 or not kp:
            raise AnnotationError(f"{where}.keypoints must be a list of x, y, v triples, got "
                                  f"{type(kp).__name__}{f' of length {len(kp)}' if isinstance(kp, list) else ''}")
        try:
            kp = np.asarray(kp, np.float64).reshape(-1, 3)
        except (TypeError, ValueError):
            raise AnnotationError(f"{where}.keypoints holds non-numbers") from None
        if num_keypoints and len(kp) != num_keypoints:
            raise AnnotationError(f"{where}.keypoints has {len(kp)} keypoints, the module predicts {num_keypoints}")
        visible = kp[:, 2] > 0
        bbox = a.get("bbox")
        if bbox is not None:
            if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
                raise AnnotationError(f"{where}.bbox must be [x, y, width, height], got {bbox!r}")
            box = np.array([bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]], np.float64)
        elif visible.any():
            box = metrics.box_of_points(kp[:, :2], visible)
        else:
            box = None
        ignore = bool(a.get("iscrowd", 0)) or not visible.any() or box is None
        by_id[a["image_id"]]["instances"].append(
            {"keypoints": kp[:, :2], "visible": visible, "box": box, "ignore": ignore})
    return {"file": str(path), "format": "coco", "images": images, "coco": coco}


def _find_image(root, name, ann_dir):
    for candidate in (Path(root) / name, Path(root) / Path(name).name, Path(ann_dir) / name):
        if candidate.is_file():
            return candidate
    return Path(root) / name  # reported per image when it cannot be read


def _read_pts_folder(folder, images_dir, num_keypoints):
    files = sorted(folder.glob("*.pts"))
    if not files:
        raise AnnotationError(f"{folder}: folder has no .pts files")
    return _read_pts_files(files, folder, images_dir, num_keypoints)


def read_pts(path):
    """(K, 2) points of a 300-W .pts file (with or without its 'version / n_points / {' header)."""
    lines = [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]
    declared = None
    if lines and lines[0].lower().startswith("version"):
        head = {}
        while lines and lines[0] != "{":
            key, _, value = lines.pop(0).partition(":")
            head[key.strip().lower()] = value.strip()
        if not lines:
            raise AnnotationError(f"{path}: header has no '{{' line")
        lines.pop(0)
        if not lines or lines[-1] != "}":
            raise AnnotationError(f"{path}: points are not closed by '}}'")
        lines.pop()
        try:
            declared = int(head.get("n_points", ""))
        except ValueError:
            raise AnnotationError(f"{path}: n_points is missing or not a number") from None
    try:
        points = np.array([[float(v) for v in ln.split()] for ln in lines], np.float64)
    except ValueError:
        raise AnnotationError(f"{path}: points must be lines of 'x y' numbers") from None
    if points.ndim != 2 or points.shape[1] != 2:
        raise AnnotationError(f"{path}: points must be lines of 'x y' numbers")
    if declared is not None and declared != len(points):
        raise AnnotationError(f"{path}: n_points says {declared}, file has {len(points)} points")
    return points


def _read_pts_files(files, folder, images_dir, num_keypoints):
    images = []
    for i, f in enumerate(files):
        points = read_pts(f) - 1.0  # 300-W .pts are 1-based (Matlab); predictions are 0-based pixels
        if num_keypoints and len(points) != num_keypoints:
            raise AnnotationError(f"{f}: has {len(points)} points, the module predicts {num_keypoints}")
        image = _image_for_stem(f.stem, ([Path(images_dir)] if images_dir else []) + [folder])
        if image is None:
            raise AnnotationError(f"{f}: no image named {f.stem}.* in {images_dir or folder}")
        visible = np.ones(len(points), bool)
        images.append({"id": i + 1, "path": str(image), "instances": [
            {"keypoints": points, "visible": visible, "box": metrics.box_of_points(points), "ignore": False}]})
    return {"file": str(folder), "format": "pts", "images": images, "coco": None}


def _image_for_stem(stem, folders):
    for folder in folders:
        for f in sorted(Path(folder).glob(f"{stem}.*")):
            if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".tif", ".tiff"):
                return f
    return None


def _read_cmu_hand_folder(folder, images_dir, num_keypoints):
    """CMU HandDB crops (as CPM / HowieMa's crop_hand.py write them): label/NAME.json holds
    {"hand_pts_crop": [[x, y], ...]}, one hand per image data/NAME.jpg. No box or visibility is annotated:
    every point counts and the tight box of the points stands for the box."""
    files = sorted((folder / "label").glob("*.json"))
    if not files:
        raise AnnotationError(f"{folder / 'label'}: folder has no .json files")
    images = []
    for f in files:
        try:
            points = np.asarray(json.loads(f.read_text())["hand_pts_crop"], np.float64)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise AnnotationError(f"{f}: expected an object with 'hand_pts_crop': [[x, y], ...]") from None
        if points.ndim != 2 or points.shape[1] != 2:
            raise AnnotationError(f"{f}: hand_pts_crop must be a list of [x, y] pairs")
        if num_keypoints and len(points) != num_keypoints:
            raise AnnotationError(f"{f}: has {len(points)} points, the module predicts {num_keypoints}")
        image = _image_for_stem(f.stem, ([Path(images_dir)] if images_dir else []) + [folder / "data", folder])
        if image is None:
            raise AnnotationError(f"{f}: no image named {f.stem}.* in {images_dir or folder / 'data'}")
        images.append({"id": len(images) + 1, "path": str(image), "instances": [
            {"keypoints": points, "visible": np.ones(len(points), bool), "box": metrics.box_of_points(points),
             "ignore": False}]})
    return {"file": str(folder), "format": "cmu_hand", "images": images, "coco": None}


def _read_dlc_csv(path, images_dir, num_keypoints, keypoint_names):
    """DeepLabCut CollectedData_*.csv: header rows scorer / [individuals /] bodyparts / coords, then one row
    per image: index column(s) giving the image path, x and y per body part (empty = not labelled)."""
    rows = list(csv.reader(path.read_text().splitlines()))
    header = {}
    while rows and rows[0] and rows[0][0].strip().lower() in ("scorer", "individuals", "bodyparts", "coords"):
        row = rows.pop(0)
        header[row[0].strip().lower()] = row
    for field in ("scorer", "bodyparts", "coords"):
        if field not in header:
            raise AnnotationError(f"{path}: header row '{field}' is missing (expected scorer / bodyparts / coords)")
    coords, parts = header["coords"], header["bodyparts"]
    individuals = header.get("individuals", [""] * len(coords))
    n_index = next((j for j, c in enumerate(coords) if c.strip() in ("x", "y", "likelihood")), None)
    if n_index is None or n_index == 0:
        raise AnnotationError(f"{path}: coords row has no x / y columns")
    columns = {}  # (individual, bodypart) -> {axis: column}
    for j in range(n_index, len(coords)):
        axis = coords[j].strip()
        if axis in ("x", "y"):
            columns.setdefault((individuals[j].strip(), parts[j].strip()), {})[axis] = j
    bodyparts = list(dict.fromkeys(p for _, p in columns))
    if any(set(v) != {"x", "y"} for v in columns.values()):
        raise AnnotationError(f"{path}: coords row must give both x and y for every body part")
    if keypoint_names and set(bodyparts) <= set(keypoint_names):
        order = {name: keypoint_names.index(name) for name in bodyparts}
    elif num_keypoints and len(bodyparts) != num_keypoints:
        raise AnnotationError(f"{path}: bodyparts row has {len(bodyparts)} parts ({', '.join(bodyparts)}), the "
                              f"module predicts {num_keypoints} keypoints and the names do not match its own")
    else:
        order = {name: i for i, name in enumerate(bodyparts)}
    k = num_keypoints or len(bodyparts)
    roots = ([Path(images_dir)] if images_dir else []) + [path.parent, path.parent.parent.parent]
    images = []
    for r, row in enumerate(rows):
        if not any(c.strip() for c in row):
            continue
        rel = "/".join(c.strip() for c in row[:n_index] if c.strip())
        image = next((root / p for root in roots for p in (rel, Path(rel).name) if (root / p).is_file()), None)
        if image is None:
            raise AnnotationError(f"{path}: row {r + len(header) + 1}: image {rel!r} not found under "
                                  f"{', '.join(map(str, roots))}")
        instances = []
        for individual in dict.fromkeys(i for i, _ in columns):
            pts, visible = np.zeros((k, 2)), np.zeros(k, bool)
            for (ind, part), cols in columns.items():
                if ind != individual:
                    continue
                try:
                    x, y = (row[cols["x"]].strip(), row[cols["y"]].strip())
                except IndexError:
                    raise AnnotationError(f"{path}: row {r + len(header) + 1} is shorter than the header") from None
                if x and y and x.lower() != "nan" and y.lower() != "nan":
                    try:
                        pts[order[part]] = float(x), float(y)
                    except ValueError:
                        raise AnnotationError(f"{path}: row {r + len(header) + 1}, bodypart {part!r}: "
                                              f"x/y {x!r}, {y!r} are not numbers") from None
                    visible[order[part]] = True
            if visible.any():
                instances.append({"keypoints": pts, "visible": visible,
                                  "box": metrics.box_of_points(pts, visible), "ignore": False})
        images.append({"id": len(images) + 1, "path": str(image), "instances": instances})
    if not images:
        raise AnnotationError(f"{path}: no labelled rows")
    return {"file": str(path), "format": "deeplabcut", "images": images, "coco": None}


def _as_coco(images):
    """A COCO keypoint ground truth from parsed instances (for OKS AP of non-COCO annotation files)."""
    anns = []
    for im in images:
        for inst in im["instances"]:
            x1, y1, x2, y2 = inst["box"]
            kp = np.concatenate([inst["keypoints"], 2.0 * inst["visible"][:, None]], 1)
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": 1, "iscrowd": 0,
                         "keypoints": kp.ravel().tolist(), "num_keypoints": int(inst["visible"].sum()),
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": float((x2 - x1) * (y2 - y1))})
    return {"images": [{"id": im["id"], "file_name": im["path"]} for im in images], "annotations": anns,
            "categories": [{"id": 1, "name": "object"}]}


# --- matching ----------------------------------------------------------------------------
def match(truth_boxes, pred_boxes, min_iou=0.3):
    """Greedy one-to-one (truth index, prediction index) pairs, highest IoU first, IoU >= min_iou (a number,
    or one per prediction)."""
    pred_boxes = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    if not len(truth_boxes) or not len(pred_boxes):
        return []
    floors = np.broadcast_to(np.asarray(min_iou, np.float64), len(pred_boxes))
    ious = np.array([iou_one_to_many(np.asarray(t, np.float64), pred_boxes) for t in truth_boxes])
    pairs, used_t, used_p = [], set(), set()
    for flat in np.argsort(-ious, axis=None):
        t, p = np.unravel_index(flat, ious.shape)
        if ious[t, p] >= floors[p] and t not in used_t and p not in used_p:
            pairs.append((int(t), int(p)))
            used_t.add(t)
            used_p.add(p)
    return pairs


def choose_task(meta):
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
    entries = module.keypoint_detection(**kwargs)
    matches = match_entries(data, entries, boxes, min_iou)
    truths = [images[m["image"]]["instances"][m["instance"]] for m in matches]
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
    report.update(score(truths, [m["keypoints"] for m in matches], meta, task))
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


def match_entries(data, entries, boxes="detector", min_iou=0.3):
    """Pair keypoint_detection() entries (one per image of data, in order) with the annotated instances:
    [{'image': image index, 'path', 'instance': annotation index in that image, 'keypoints': (K, 2)}].
    Any pipeline's predictions can be scored this way (e.g. another library's, shaped as entries)."""
    matches = []
    for i, (im, entry) in enumerate(zip(data["images"], entries)):
        kept = [j for j, inst in enumerate(im["instances"]) if not inst["ignore"]]
        found = entry.get("instances", [])
        if boxes == "gt" and len(found) == len(kept):
            pairs = list(zip(range(len(kept)), range(len(found))))  # one prediction per given box, in order
        else:
            key = "detector_box" if boxes == "gt" else "box"
            whole = [_is_whole_frame(f.get(key, f["box"]), entry.get("image_size")) for f in found]
            # a whole-frame box (whole_image_detector) says nothing about where the instance is: rank such a
            # prediction by its keypoints' box, and let it take any annotation of its image
            pred_boxes = [metrics.box_of_points(np.reshape(f["keypoints"], (-1, 2))) if w else f.get(key, f["box"])
                          for f, w in zip(found, whole)]
            pairs = match([im["instances"][j]["box"] for j in kept], pred_boxes,
                          [0.0 if w else min_iou for w in whole])
        for t, p in pairs:
            matches.append({"image": i, "path": im["path"], "instance": kept[t],
                            "keypoints": np.asarray(found[p]["keypoints"], np.float64).reshape(-1, 2)})
    return matches


def _is_whole_frame(box, image_size):
    return bool(image_size) and np.allclose(box[:4], [0, 0, image_size["width"], image_size["height"]], atol=1.0)


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
