"""Annotation readers for `hub eval` and `hub finetune`: COCO keypoint JSON, 300-W .pts files, DeepLabCut
CollectedData_*.csv and CMU HandDB folders, each read into the one structure below."""
import csv
import json
from pathlib import Path
from typing import List, Optional, TypedDict

import numpy as np

from . import metrics
from .errors import HubError


class Instance(TypedDict):
    keypoints: np.ndarray       # (K, 2) image pixels, 0-based
    visible: np.ndarray         # (K,) bool: annotated
    box: Optional[np.ndarray]   # x1, y1, x2, y2: the annotated box, else the tight box of the visible points
    ignore: bool                # crowd, or nothing annotated: not scored


class AnnotatedImage(TypedDict):
    id: int
    path: str
    instances: List[Instance]


class Annotations(TypedDict):
    file: str
    format: str                 # coco | pts | deeplabcut | cmu_hand
    images: List[AnnotatedImage]
    coco: dict                  # the same as a COCO keypoint ground truth (for OKS AP)


def instance(keypoints, visible=None, box=None, ignore=False):
    """An Instance: every point visible unless told, the points' tight box unless a box is given."""
    visible = np.ones(len(keypoints), bool) if visible is None else visible
    if box is None and visible.any():
        box = metrics.box_of_points(keypoints, visible)
    return {"keypoints": keypoints, "visible": visible, "box": box, "ignore": ignore or box is None}


class AnnotationError(HubError, ValueError):
    """A malformed annotation file; the message names the file and the field."""


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
        by_id[a["image_id"]]["instances"].append(instance(kp[:, :2], visible, _coco_box(a.get("bbox"), where),
                                                          bool(a.get("iscrowd", 0)) or not visible.any()))
    return {"file": str(path), "format": "coco", "images": images, "coco": coco}


def _coco_box(bbox, where):
    """x1, y1, x2, y2 of a COCO [x, y, width, height] bbox, or None."""
    if bbox is None:
        return None
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        raise AnnotationError(f"{where}.bbox must be [x, y, width, height], got {bbox!r}")
    return np.array([bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]], np.float64)


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
        images.append({"id": i + 1, "path": str(image), "instances": [instance(points)]})
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
        images.append({"id": len(images) + 1, "path": str(image), "instances": [instance(points)]})
    return {"file": str(folder), "format": "cmu_hand", "images": images, "coco": None}


def _read_dlc_csv(path, images_dir, num_keypoints, keypoint_names):
    """DeepLabCut CollectedData_*.csv: header rows scorer / [individuals /] bodyparts / coords, then one row
    per image: index column(s) giving the image path, x and y per body part (empty = not labelled)."""
    rows = list(csv.reader(path.read_text().splitlines()))
    header = _dlc_header(path, rows)
    n_index, columns = _dlc_columns(path, header)
    order = _dlc_order(path, [p for _, p in columns], num_keypoints, keypoint_names)
    k = num_keypoints or len(order)
    roots = ([Path(images_dir)] if images_dir else []) + [path.parent, path.parent.parent.parent]
    images = []
    for r, row in enumerate(rows):
        if not any(c.strip() for c in row):
            continue
        where = f"{path}: row {r + len(header) + 1}"
        rel = "/".join(c.strip() for c in row[:n_index] if c.strip())
        image = next((root / p for root in roots for p in (rel, Path(rel).name) if (root / p).is_file()), None)
        if image is None:
            raise AnnotationError(f"{where}: image {rel!r} not found under {', '.join(map(str, roots))}")
        instances = [_dlc_instance(where, row, {part: cols for (ind, part), cols in columns.items() if ind == individual},
                                   order, k) for individual in dict.fromkeys(i for i, _ in columns)]
        images.append({"id": len(images) + 1, "path": str(image), "instances": [i for i in instances if i]})
    if not images:
        raise AnnotationError(f"{path}: no labelled rows")
    return {"file": str(path), "format": "deeplabcut", "images": images, "coco": None}


def _dlc_header(path, rows):
    """{name: row} of the header rows, taken off rows."""
    header = {}
    while rows and rows[0] and rows[0][0].strip().lower() in ("scorer", "individuals", "bodyparts", "coords"):
        row = rows.pop(0)
        header[row[0].strip().lower()] = row
    for field in ("scorer", "bodyparts", "coords"):
        if field not in header:
            raise AnnotationError(f"{path}: header row '{field}' is missing (expected scorer / bodyparts / coords)")
    return header


def _dlc_columns(path, header):
    """(number of index columns, {(individual, bodypart): {'x': column, 'y': column}})."""
    coords, parts = header["coords"], header["bodyparts"]
    individuals = header.get("individuals", [""] * len(coords))
    n_index = next((j for j, c in enumerate(coords) if c.strip() in ("x", "y", "likelihood")), None)
    if n_index is None or n_index == 0:
        raise AnnotationError(f"{path}: coords row has no x / y columns")
    columns = {}
    for j in range(n_index, len(coords)):
        axis = coords[j].strip()
        if axis in ("x", "y"):
            columns.setdefault((individuals[j].strip(), parts[j].strip()), {})[axis] = j
    if any(set(v) != {"x", "y"} for v in columns.values()):
        raise AnnotationError(f"{path}: coords row must give both x and y for every body part")
    return n_index, columns


def _dlc_order(path, parts, num_keypoints, keypoint_names):
    """{bodypart: keypoint index}: by the module's keypoint names where they cover the body parts, else in order."""
    bodyparts = list(dict.fromkeys(parts))
    if keypoint_names and set(bodyparts) <= set(keypoint_names):
        return {name: keypoint_names.index(name) for name in bodyparts}
    if num_keypoints and len(bodyparts) != num_keypoints:
        raise AnnotationError(f"{path}: bodyparts row has {len(bodyparts)} parts ({', '.join(bodyparts)}), the "
                              f"module predicts {num_keypoints} keypoints and the names do not match its own")
    return {name: i for i, name in enumerate(bodyparts)}


def _dlc_instance(where, row, columns, order, k):
    """One individual's Instance from a row ({bodypart: {'x', 'y'} columns}), or None when nothing is labelled."""
    pts, visible = np.zeros((k, 2)), np.zeros(k, bool)
    for part, cols in columns.items():
        try:
            x, y = (row[cols["x"]].strip(), row[cols["y"]].strip())
        except IndexError:
            raise AnnotationError(f"{where} is shorter than the header") from None
        if x and y and x.lower() != "nan" and y.lower() != "nan":
            try:
                pts[order[part]] = float(x), float(y)
            except ValueError:
                raise AnnotationError(f"{where}, bodypart {part!r}: x/y {x!r}, {y!r} are not numbers") from None
            visible[order[part]] = True
    return instance(pts, visible) if visible.any() else None


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
